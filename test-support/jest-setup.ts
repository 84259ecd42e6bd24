// cdktf's matchers (toHaveResource, toHaveResourceWithProperties, ...) for every test file.
import { Testing } from "cdktf";
import "cdktf/lib/testing/adapters/jest";

Testing.setupJest();

// The operations' cluster locks (lib/ops/lock.ts) of this test process, apart from the user's.
import { join } from "node:path";
import { tmpdir } from "node:os";
process.env.KINDHA_LOCK_DIR ||= join(tmpdir(), `kindha-test-locks-${process.pid}`);
