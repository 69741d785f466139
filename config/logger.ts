import pino, { type Logger } from 'pino';

/** JSON logs on stdout, one line per record, tagged with the component that wrote them. */
export function createLogger(component: string, level: string): Logger {
  return pino({ level, base: { component } });
}
