package rotatingfileexporter

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"go.uber.org/zap"
)

// openFiles holds one rotatingFile per path: exporters of several signals (or several exporter
// ids) pointed at the same file share its writer instead of racing on rotation.
var openFiles = &fileRegistry{files: map[string]*sharedFile{}}

type fileRegistry struct {
	mu    sync.Mutex
	files map[string]*sharedFile
}

type sharedFile struct {
	*rotatingFile
	cfg  Config
	refs int
}

func (r *fileRegistry) acquire(cfg *Config, logger *zap.Logger) (*rotatingFile, error) {
	key, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.files[key]; ok {
		if f.cfg != *cfg {
			return nil, fmt.Errorf("two rotating_file exporters write %s with different settings", key)
		}
		f.refs++
		return f.rotatingFile, nil
	}
	f, err := openRotatingFile(newFileOptions(cfg, logger))
	if err != nil {
		return nil, err
	}
	r.files[key] = &sharedFile{rotatingFile: f, cfg: *cfg, refs: 1}
	return f, nil
}

func (r *fileRegistry) release(ctx context.Context, cfg *Config) error {
	key, err := filepath.Abs(cfg.Path)
	if err != nil {
		return err
	}
	r.mu.Lock()
	f, ok := r.files[key]
	if !ok {
		r.mu.Unlock()
		return nil
	}
	f.refs--
	if f.refs > 0 {
		r.mu.Unlock()
		return nil
	}
	delete(r.files, key)
	r.mu.Unlock()
	return f.close(ctx)
}
