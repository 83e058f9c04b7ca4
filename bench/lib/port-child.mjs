// The bench's helper processes (sink, fake upstream) print {"port": N} on their first stdout line.

/** Resolves with { child, port } once `child` printed its port line; rejects if it exits first. */
export function listeningPort(child, name) {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve({ child, port: JSON.parse(buf.slice(0, nl)).port });
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening`)));
  });
}
