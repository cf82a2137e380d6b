// Child-process entry for the first start: creates the embedded database (initdb) in the folder given
// as argv[2] and exits. initdb leaves ~300 MB of WASM memory behind; in a process of its own all of it
// goes back to the OS when it exits (a worker thread kept about 80 MB of it resident in `npm start`).
import { PGlite } from '@electric-sql/pglite';

const lastLog: string[] = [];
const keepLog = (text: string) => {
  lastLog.push(text.trim());
  if (lastLog.length > 5) lastLog.shift();
  return true;
};
try {
  const db = await PGlite.create({ dataDir: process.argv[2]!, onStderr: keepLog, onStdout: keepLog });
  await db.close();
} catch (err) {
  const why = (err as Error).message?.split('\n')[0] ?? String(err);
  const detail = lastLog.filter((l) => /FATAL|PANIC|ERROR/.test(l)).pop();
  // One line on stderr; the parent puts it into its own one-line error.
  process.stderr.write(detail ? `${why}; ${detail}` : why);
  process.exit(1);
}
