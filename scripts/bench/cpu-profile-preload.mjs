// Loaded with NODE_OPTIONS="--import <this file>" (where --cpu-prof is not allowed): profiles the
// process from start to exit and writes <DFS_CPU_PROFILE_DIR>/<pid>.cpuprofile. The inspector
// session runs on the process's own thread, so the exit hook can still stop it and write the file.
import fs from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

const dir = process.env.DFS_CPU_PROFILE_DIR;
if (dir !== undefined && dir !== '') {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err === null) fs.writeFileSync(path.join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
