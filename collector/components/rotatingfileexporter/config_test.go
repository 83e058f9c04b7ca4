package rotatingfileexporter

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	valid := func() *Config {
		c := createDefaultConfig().(*Config)
		c.Path = "data/logs.jsonl"
		return c
	}
	tests := []struct {
		name   string
		change func(*Config)
		errs   []string // substrings of the error; none: valid
	}{
		{name: "defaults with a path", change: func(*Config) {}},
		{name: "no path", change: func(c *Config) { c.Path = "" }, errs: []string{"path must be set"}},
		{name: "max_megabytes 0", change: func(c *Config) { c.MaxMegabytes = 0 }, errs: []string{"max_megabytes"}},
		{name: "hourly", change: func(c *Config) { c.RotationInterval = time.Hour }},
		{name: "every two days", change: func(c *Config) { c.RotationInterval = 48 * time.Hour }},
		{name: "no time rotation", change: func(c *Config) { c.RotationInterval = 0 }},
		{name: "7h does not divide a day", change: func(c *Config) { c.RotationInterval = 7 * time.Hour }, errs: []string{"rotation_interval"}},
		{name: "under a minute", change: func(c *Config) { c.RotationInterval = 30 * time.Second }, errs: []string{"rotation_interval"}},
		{name: "negative interval", change: func(c *Config) { c.RotationInterval = -time.Hour }, errs: []string{"rotation_interval"}},
		{name: "no compression", change: func(c *Config) { c.Compression = CompressionNone }},
		{name: "zstd", change: func(c *Config) { c.Compression = "zstd" }, errs: []string{`compression must be "gzip" or "none"`}},
		{name: "empty compression", change: func(c *Config) { c.Compression = "" }, errs: []string{"compression"}},
		{name: "negative retention", change: func(c *Config) { c.MaxFiles, c.MaxDays = -1, -1 }, errs: []string{"max_files", "max_days"}},
		{name: "every error at once", change: func(c *Config) { c.Path, c.MaxMegabytes = "", 0 }, errs: []string{"path", "max_megabytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(c)
			err := c.Validate()
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q, got none", tt.errs)
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := createDefaultConfig().(*Config)
	want := Config{MaxMegabytes: 10, RotationInterval: 24 * time.Hour, Compression: CompressionGzip, MaxFiles: 10, MaxDays: 7}
	if *c != want {
		t.Fatalf("defaults %+v, want %+v", *c, want)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "path") {
		t.Fatalf("defaults without a path must be refused, got %v", err)
	}
}

func TestNextBoundary(t *testing.T) {
	loc := time.FixedZone("test", 3600)
	at := func(h, m int) time.Time { return time.Date(2026, 11, 29, h, m, 0, 0, loc) }
	tests := []struct {
		name  string
		t     time.Time
		every time.Duration
		want  time.Time
	}{
		{"daily: next local midnight", at(23, 5), 24 * time.Hour, time.Date(2026, 11, 30, 0, 0, 0, 0, loc)},
		{"daily from midnight itself", at(0, 0), 24 * time.Hour, time.Date(2026, 11, 30, 0, 0, 0, 0, loc)},
		{"hourly", at(13, 59), time.Hour, at(14, 0)},
		{"hourly on the hour", at(14, 0), time.Hour, at(15, 0)},
		{"every 6h", at(13, 0), 6 * time.Hour, at(18, 0)},
		{"every 6h late", at(19, 0), 6 * time.Hour, time.Date(2026, 11, 30, 0, 0, 0, 0, loc)},
		{"every two days", at(10, 0), 48 * time.Hour, time.Date(2026, 12, 1, 0, 0, 0, 0, loc)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextBoundary(tt.t, tt.every); !got.Equal(tt.want) {
				t.Fatalf("nextBoundary(%s, %s) = %s, want %s", tt.t, tt.every, got, tt.want)
			}
		})
	}
}
