/**
 * The supervisor: one long-running workflow per task queue that owns the pipeline's mode (normal, or
 * degraded: events are stored but not forwarded) and each destination's circuit breaker. Workers send
 * it their aggregates every few seconds; operators steer it through updates (the `ferry` CLI, the
 * admin API). Its decisions live in SupervisorState; this file only carries out their effects:
 * publishing the control state, raising alerts, waking parked lanes.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { AlertActivities } from '../activities/alerts';
import type { ControlActivities } from '../activities/control';
import type { AlertChannel } from '../config/alertEnv';
import type { Alert } from '../control/alert';
import type { SupervisorSettingsActivity } from './settings';
import {
  degradeUpdate,
  healthSignal,
  pauseUpdate,
  recoverUpdate,
  resumeUpdate,
  statusQuery,
  type SupervisorArgs,
} from './supervisorDefinitions';
import { SupervisorState, type Effect, type HealthReport, type SupervisorSettings } from './supervisorState';

/** How often time-driven decisions (probes, the healthy period) are looked at without any report. */
const TICK_MS = 5_000;
/** Reports are small; a run carries its state over well before Temporal's history limits. */
const CONTINUE_AS_NEW_AFTER_EVENTS = 2_000;

const settingsActivity = proxyLocalActivities<SupervisorSettingsActivity>({ startToCloseTimeout: '10s' });
/**
 * A regular activity, not a local one: while a local activity runs, the workflow task stays open and
 * queries wait for it, so `ferry status` would hang whenever the database is slow.
 */
const control = proxyActivities<ControlActivities>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2 },
});
/** Waking many lanes takes a while; it heartbeats, and a worker that dies mid-way hands it to another. */
const wakeActivity = proxyActivities<ControlActivities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2 },
});
/**
 * Alerts are retried for a day (a paging service may be down for a while) in activities of their own,
 * which the supervisor does not wait for: an alert never holds up a decision.
 */
const alertActivity = proxyActivities<AlertActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '24h',
  retry: { initialInterval: '5s', maximumInterval: '5m', backoffCoefficient: 2 },
});

export async function supervisorWorkflow(args: SupervisorArgs = {}): Promise<void> {
  // Handlers first, before the settings are read: an update or signal that starts this run must find
  // them (an update without a handler is rejected), and waits until the supervisor is ready.
  const current: { supervisor?: Supervisor } = {};
  const early: HealthReport[] = [];
  const ready = async (): Promise<Supervisor> => {
    await condition(() => current.supervisor !== undefined);
    return current.supervisor!;
  };
  setHandler(healthSignal, (report) => {
    const s = current.supervisor;
    if (s) s.apply((now) => s.state.report(report, now));
    else early.push(report);
  });
  setHandler(statusQuery, () => {
    if (!current.supervisor) throw new Error('the supervisor is starting; ask again in a moment');
    return current.supervisor.state.status(Date.now());
  });
  setHandler(degradeUpdate, async ({ reason, seq }) => {
    const s = await ready();
    await s.command((now) => s.state.degrade(reason ?? 'by an operator', now), seq);
    return s.state.status(Date.now());
  });
  setHandler(recoverUpdate, async ({ seq } = {}) => {
    const s = await ready();
    await s.command((now) => s.state.recover(now), seq);
    return s.state.status(Date.now());
  });
  setHandler(pauseUpdate, async ({ destinationIds, reason, seq }) => {
    const s = await ready();
    await s.command((now) => destinationIds.flatMap((id) => s.state.pause(id, reason ?? 'by an operator', now)), seq);
    return s.state.status(Date.now());
  });
  setHandler(resumeUpdate, async ({ destinationIds, seq }) => {
    const s = await ready();
    await s.command((now) => destinationIds.flatMap((id) => s.state.resume(id, now)), seq);
    return s.state.status(Date.now());
  });

  const { settings, alertChannels } = await settingsActivity.supervisorSettings();
  const started = new Supervisor(new SupervisorState(settings, args.carry), settings, alertChannels, args.operatorSeq ?? 0);
  for (const report of early.splice(0)) started.apply((now) => started.state.report(report, now));
  // Alerts the previous run had not delivered yet: sent again (each channel deduplicates by its key).
  for (const { channel, alert } of args.alerts ?? []) started.send(channel, alert);
  current.supervisor = started;
  await started.run();
}

class Supervisor {
  private readonly pending: Effect[] = [];
  /** Publishes the current state once at start: the tables may lag a run that ended badly. */
  publishDue = true;
  /** Alerts not delivered yet, by channel and key: carried over to the next run if it comes first. */
  private readonly alerts = new Map<string, { channel: AlertChannel; alert: Alert }>();
  private wakes: Promise<void> = Promise.resolve();
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    readonly state: SupervisorState,
    private readonly settings: SupervisorSettings,
    private readonly alertChannels: readonly AlertChannel[],
    /** The last operator command applied: its override (and earlier ones) are cleared at the next publish. */
    private operatorSeq: number,
  ) {}

  apply(decide: (now: number) => Effect[]): void {
    this.pending.push(...decide(Date.now()));
  }

  /** An operator's command: answered only once its decision is published, so the CLI's next status shows it. */
  async command(decide: (now: number) => Effect[], seq?: number): Promise<void> {
    this.apply(decide);
    if (seq !== undefined && seq > this.operatorSeq) {
      this.operatorSeq = seq;
      this.publishDue = true;
    }
    await this.flush();
  }

  async run(): Promise<void> {
    for (;;) {
      await condition(() => this.pending.length > 0 || this.publishDue, TICK_MS);
      this.apply((now) => this.state.evaluate(now));
      await this.flush();
      this.showDetails();
      const info = workflowInfo();
      if (info.continueAsNewSuggested || info.historyLength >= CONTINUE_AS_NEW_AFTER_EVENTS) break;
    }
    await condition(allHandlersFinished);
    await this.flushing;
    await this.wakes;
    // Alerts still retrying are sent again by the next run: waiting for them would hold the hand-over
    // up for as long as a paging service is down.
    await continueAsNew<typeof supervisorWorkflow>({ carry: this.state.carry(Date.now()), operatorSeq: this.operatorSeq, alerts: [...this.alerts.values()] });
  }

  /** Carries out the effects decided so far, in order; one flush at a time. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushOnce());
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const effects = this.pending.splice(0);
    if (effects.some((e) => e.type === 'publish') || this.publishDue) {
      this.publishDue = false;
      await control.publishControl({ ...this.state.control(), operatorSeq: this.operatorSeq });
    }
    for (const effect of effects) {
      if (effect.type === 'alert') this.raise(effect.alert);
      // Wakes run one after another in the background: a resume of many lanes must not hold up the
      // next decision, and two wakes of the same destination must not race.
      if (effect.type === 'wake') {
        const { destinationId, limit } = effect;
        this.wakes = this.wakes.then(() =>
          wakeActivity.wakeLanes({ destinationId, limit }).then(
            ({ woken }) => log.info('woke parked lanes', { destinationId, woken }),
            (err: unknown) => log.warn('could not wake parked lanes; they look again on their own', { destinationId, error: String(err) }),
          ),
        );
      }
    }
  }

  private raise(alert: Alert): void {
    log.info(`alert: ${alert.summary}`, { kind: alert.kind, dedupKey: alert.dedupKey });
    for (const channel of this.alertChannels) this.send(channel, alert);
  }

  send(channel: AlertChannel, alert: Alert): void {
    const key = `${channel}\0${alert.dedupKey}\0${alert.kind}\0${alert.at}`;
    this.alerts.set(key, { channel, alert });
    void alertActivity.sendAlert({ channel, alert }).then(
      () => this.alerts.delete(key),
      (err: unknown) => {
        this.alerts.delete(key);
        log.error('alert could not be delivered', { channel, dedupKey: alert.dedupKey, error: String(err) });
      },
    );
  }

  private showDetails(): void {
    const status = this.state.status(Date.now());
    const lines = status.destinations
      .filter((d) => d.state !== 'active' || d.recent.attempts > 0)
      .map((d) => `- **${d.id}**: ${d.state}${d.reason ? ` (${d.reason})` : ''}; ${d.recent.failures}/${d.recent.attempts} failed in ${d.recent.windowSeconds} s`);
    const mode = status.mode === 'degraded' ? `**degraded** since ${status.modeSince}: ${status.modeReason ?? ''}` : 'normal';
    setCurrentDetails(
      [`**Ferry supervisor** — mode: ${mode}`, '', ...lines, '', `Own failures in ${Math.round(this.settings.windowMs / 1000)} s: ${status.recentSelfFailures}; worker starts: ${status.recentWorkerStarts}`].join('\n'),
    );
  }
}
