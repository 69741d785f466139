/** A destination's user transformation, as validated when the workspace loads. */
export interface UserTransformation {
  /** Isolates are cached per version: a new version of the code must get a new versionId. */
  readonly versionId: string;
  readonly id?: string;
  /** For messages; the versionId when the config gives no name. */
  readonly name: string;
  /** The ES module source, inline or read from `codeFile`. */
  readonly code: string;
  /** Found when the workspace loads, by compiling the code (see checkTransformationCode). */
  readonly mode: TransformationMode;
}

/** Which function the code exports; transformBatch wins when both are, as in RudderStack. */
export type TransformationMode = 'event' | 'batch';

/** What `metadata(event)` returns inside a transformation, as RudderStack gives it. */
export interface EventMetadata {
  readonly sourceId: string;
  readonly sourceName: string;
  readonly destinationId: string;
  readonly destinationName: string;
  readonly destinationType: string;
  readonly messageId: string;
  readonly eventType: string;
  readonly eventName?: string;
  readonly transformationId?: string;
  readonly transformationVersionId: string;
}
