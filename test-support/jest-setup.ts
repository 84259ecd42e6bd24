// cdktf's matchers (toHaveResource, toHaveResourceWithProperties, ...) for every test file.
import { Testing } from "cdktf";
import "cdktf/lib/testing/adapters/jest";

Testing.setupJest();

import { removeScratchDirs } from "./scratch";
afterAll(removeScratchDirs);

// The operations' cluster locks (lib/ops/lock.ts) of this test process, apart from the user's,
// removed after each test file.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
if (!process.env.KINDHA_LOCK_DIR) {
  const locks = join(tmpdir(), `kindha-test-locks-${process.pid}`);
  process.env.KINDHA_LOCK_DIR = locks;
  afterAll(() => {
    rmSync(locks, { recursive: true, force: true });
    delete process.env.KINDHA_LOCK_DIR;
  });
}
