/** Once per test process (vitest forks): the Temporal runtime, quiet unless something is wrong. */
import { DefaultLogger, Runtime } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });
