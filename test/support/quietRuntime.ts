import { DefaultLogger, Runtime } from '@temporalio/worker';

// The SDK logs worker state changes at INFO and every failed delivery at WARN; tests want only errors.
Runtime.install({ logger: new DefaultLogger('ERROR') });
