// One implementation of "a port free on 127.0.0.1" for tests and benchmarks alike.
export { freePort } from '../../bench/support/stack';
