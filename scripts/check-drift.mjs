// Fails when regenerated code differs from what is committed (or is new and untracked).
import { execFileSync } from 'node:child_process';

const paths = ['proto/src/generated', 'schema', 'sdk/src/generated'];
const status = execFileSync('git', ['status', '--porcelain', '--', ...paths], { encoding: 'utf8' });
if (status.trim()) {
  process.stderr.write(`generated code is out of date; run \`npm run codegen\` and commit:\n${status}`);
  execFileSync('git', ['--no-pager', 'diff', '--stat', '--', ...paths], { stdio: 'inherit' });
  process.exit(1);
}
process.stdout.write('generated code matches the committed files\n');
