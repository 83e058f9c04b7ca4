package rotatingfileexporter

import (
	"context"
	"errors"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// errAborted ends a compression when Close's deadline passes; the plain backup stays and is
// compressed at the next start.
var errAborted = errors.New("compression aborted by shutdown")

// backupWorker compresses rotated backups and prunes old ones, one at a time, on its own goroutine,
// so a write never waits for either. Every change to the backups goes through it.
type backupWorker struct {
	names    backupNames
	gzip     bool
	maxFiles int
	maxAge   time.Duration
	now      func() time.Time
	logger   *zap.Logger

	mu      sync.Mutex
	pending []string // plain backups to compress, oldest first

	wake  chan struct{} // cap 1: there is work
	stop  chan struct{} // closed by close: finish the pending work, then exit
	abort chan struct{} // closed when close's deadline passes: stop now
	done  chan struct{} // closed when the goroutine has exited
}

func startBackupWorker(names backupNames, opts fileOptions, pending []string) *backupWorker {
	w := &backupWorker{
		names:    names,
		gzip:     opts.gzip,
		maxFiles: opts.maxFiles,
		maxAge:   opts.maxAge,
		now:      opts.now,
		logger:   opts.logger,
		pending:  pending,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		abort:    make(chan struct{}),
		done:     make(chan struct{}),
	}
	w.wake <- struct{}{} // leftovers from the last run, and a first prune
	go w.run()
	return w
}

// rotated hands over a new plain backup.
func (w *backupWorker) rotated(path string) {
	w.mu.Lock()
	if w.gzip {
		w.pending = append(w.pending, path)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// close finishes the pending compressions, or, when ctx ends first, abandons the one in progress
// (its .tmp is removed; the plain backup is compressed at the next start).
func (w *backupWorker) close(ctx context.Context) error {
	close(w.stop)
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		close(w.abort)
		<-w.done
		return fmt.Errorf("backups left uncompressed until the next start: %w", ctx.Err())
	}
}

func (w *backupWorker) run() {
	defer close(w.done)
	for {
		select {
		case <-w.wake:
		case <-w.stop:
		}
		w.compressPending()
		w.prune()
		select {
		case <-w.stop:
			w.mu.Lock()
			left := len(w.pending)
			w.mu.Unlock()
			if left == 0 {
				return
			}
		case <-w.abort:
			return
		default:
		}
	}
}

func (w *backupWorker) compressPending() {
	for {
		w.mu.Lock()
		if len(w.pending) == 0 {
			w.mu.Unlock()
			return
		}
		path := w.pending[0]
		w.mu.Unlock()

		err := compressBackup(path, w.abort)
		if errors.Is(err, errAborted) {
			return
		}
		if err != nil {
			// The plain backup stays readable and is retried at the next start.
			w.logger.Error("compressing a rotated file failed; it stays uncompressed", zap.String("file", path), zap.Error(err))
		}
		w.mu.Lock()
		w.pending = w.pending[1:]
		w.mu.Unlock()
	}
}

// compressBackup writes <path>.gz.tmp, fsyncs it, renames it to <path>.gz, fsyncs the directory,
// and only then removes the plain file: after a crash at any point either the plain file or the
// complete .gz holds the records, and a start finishes or undoes what is left (recoverFiles).
func compressBackup(path string, abort <-chan struct{}) (err error) {
	in, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil // pruned meanwhile
	}
	if err != nil {
		return err
	}
	defer in.Close()
	final := path + gzSuffix
	tmp := final + tmpSuffix
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	zw, err := gzip.NewWriterLevel(out, gzip.BestSpeed)
	if err != nil {
		return err
	}
	zw.Name = filepath.Base(path)
	buf := make([]byte, 256<<10)
	for {
		select {
		case <-abort:
			return errAborted
		default:
		}
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err = zw.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if err = zw.Close(); err != nil {
		return err
	}
	if err = out.Sync(); err != nil {
		return err
	}
	if err = out.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, final); err != nil {
		return err
	}
	if err = syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	return os.Remove(path)
}

// prune deletes the oldest backups beyond maxFiles and those rotated more than maxAge ago.
func (w *backupWorker) prune() {
	if w.maxFiles == 0 && w.maxAge == 0 {
		return
	}
	all, err := w.names.list()
	if err != nil {
		w.logger.Error("listing rotated files failed", zap.String("dir", w.names.dir), zap.Error(err))
		return
	}
	var backups []backupFile
	for _, b := range all {
		if b.kind != gzPartial {
			backups = append(backups, b)
		}
	}
	cutoff := w.now().Add(-w.maxAge)
	for i, b := range backups {
		tooMany := w.maxFiles > 0 && len(backups)-i > w.maxFiles
		tooOld := w.maxAge > 0 && b.rotated.Before(cutoff)
		if !tooMany && !tooOld {
			continue
		}
		if err := os.Remove(b.path); err != nil && !os.IsNotExist(err) {
			w.logger.Error("deleting an old rotated file failed", zap.String("file", b.path), zap.Error(err))
		}
	}
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
