package rotatingfileexporter

import (
	"bytes"
	"io"
	"os"
)

// recovery is what a start found and fixed.
type recovery struct {
	tornBytes int64    // bytes of a torn last line cut from the current file
	pending   []string // plain backups still to compress, oldest first
}

// recoverFiles repairs what a crash can leave behind, before the first write:
//   - a torn last line in the current file (a write cut by SIGKILL or power loss) is cut, so the
//     file holds whole lines only; the sender was never told that record arrived, and retries it;
//   - a .gz.tmp is a compression that did not finish: removed (its plain backup still exists);
//   - a plain backup beside its .gz was compressed but not yet removed: removed now;
//   - other plain backups are compressed again (when compression is on).
func recoverFiles(path string, names backupNames, gzip bool) (recovery, error) {
	var r recovery
	torn, err := cutTornTail(path)
	if err != nil {
		return r, err
	}
	r.tornBytes = torn

	backups, err := names.list()
	if err != nil {
		return r, err
	}
	haveGz := map[string]bool{}
	for _, b := range backups {
		if b.kind == gzBackup {
			haveGz[b.path] = true
		}
	}
	for _, b := range backups {
		switch {
		case b.kind == gzPartial:
			if err := os.Remove(b.path); err != nil && !os.IsNotExist(err) {
				return r, err
			}
		case b.kind == plainBackup && haveGz[b.path+gzSuffix]:
			if err := os.Remove(b.path); err != nil && !os.IsNotExist(err) {
				return r, err
			}
		case b.kind == plainBackup && gzip:
			r.pending = append(r.pending, b.path)
		}
	}
	return r, nil
}

// cutTornTail truncates path after its last newline and returns how many bytes it cut. Every
// write ends with a newline, so anything after the last one is a write that did not finish.
func cutTornTail(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := info.Size()
	keep, err := lastNewlineEnd(f, size)
	if err != nil || keep == size {
		return 0, err
	}
	if err := f.Truncate(keep); err != nil {
		return 0, err
	}
	return size - keep, f.Sync()
}

// lastNewlineEnd returns the offset just after the last '\n' in the first size bytes of r (0 when
// there is none), reading backwards in chunks.
func lastNewlineEnd(r io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		chunk := buf[:end-start]
		if _, err := r.ReadAt(chunk, start); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
