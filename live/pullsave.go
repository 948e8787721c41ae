package live

// --save DIR: what a live pull received is written as files that
// `breakdown DIR` reads back to the same dataset, so a postmortem can be
// reproduced offline. Each answer becomes one line of a JSON Lines file
// (bodies are compacted to one line, byte for byte what the decoders saw
// otherwise); a hidden manifest records the query. Hidden files are skipped
// when a directory is read, so the manifest never counts as an input.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/trace-forensics/trace-forensics/sources"
)

// ManifestName is the file in a --save directory that describes the pull.
const ManifestName = ".trace-forensics-pull.json"

// PullManifest describes a saved pull.
type PullManifest struct {
	Source      string            `json:"source"` // redacted: no credentials
	Services    []string          `json:"services,omitempty"`
	Operation   string            `json:"operation,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Start       *time.Time        `json:"start,omitempty"`
	End         *time.Time        `json:"end,omitempty"`
	MinDuration string            `json:"min_duration,omitempty"`
	MaxDuration string            `json:"max_duration,omitempty"`
	Limit       int               `json:"limit,omitempty"`
	TraceIDs    []string          `json:"trace_ids,omitempty"`
	PulledAt    time.Time         `json:"pulled_at"`
	Files       []string          `json:"files"`
	Answers     int               `json:"answers"`
	// Incomplete holds the error that stopped the pull early, if one did.
	Incomplete string `json:"incomplete,omitempty"`
}

func manifestFor(src traceSource, q *TraceQuery, po PullOptions) PullManifest {
	m := PullManifest{
		Source: src.name(), Services: q.Services, Operation: q.Operation, Tags: q.Tags,
		TraceIDs: q.TraceIDs, PulledAt: po.now().UTC(),
	}
	if len(q.TraceIDs) == 0 {
		m.Limit = q.limit()
		if w, err := q.window(po.now()); err == nil {
			s, e := w.start.UTC(), w.end.UTC()
			m.Start, m.End = &s, &e
		}
		if q.MinDuration > 0 {
			m.MinDuration = q.MinDuration.String()
		}
		if q.MaxDuration > 0 {
			m.MaxDuration = q.MaxDuration.String()
		}
	}
	return m
}

// saver appends answers to DIR/<name>.jsonl.
type saver struct {
	mu       sync.Mutex
	dir      string
	path     string
	f        *os.File
	w        *bufio.Writer
	manifest PullManifest
	line     bytes.Buffer
	created  bool // dir did not exist before
}

// newSaver prepares dir: it is created when missing and must be empty, so
// that reading it back never mixes two pulls.
func newSaver(dir, name string, m PullManifest) (*saver, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("--save: %w", err)
		}
		return &saver{dir: dir, path: filepath.Join(dir, name+".jsonl"), manifest: m, created: true}, nil
	case err != nil:
		return nil, fmt.Errorf("--save %s: %w", dir, sources.PathError(err))
	case len(entries) > 0:
		return nil, fmt.Errorf("--save %s: the directory is not empty; give a new or empty one so the saved pull reads back alone", dir)
	}
	return &saver{dir: dir, path: filepath.Join(dir, name+".jsonl"), manifest: m}, nil
}

// write appends one answer as one line.
func (s *saver) write(body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		f, err := os.OpenFile(s.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("--save: %w", err)
		}
		s.f, s.w = f, bufio.NewWriterSize(f, 1<<20)
		s.manifest.Files = append(s.manifest.Files, filepath.Base(s.path))
	}
	s.line.Reset()
	if err := json.Compact(&s.line, body); err != nil {
		return fmt.Errorf("--save: the answer is not valid JSON: %w", err)
	}
	s.line.WriteByte('\n')
	if _, err := s.w.Write(s.line.Bytes()); err != nil {
		return fmt.Errorf("--save %s: %w", s.path, err)
	}
	s.manifest.Answers++
	return nil
}

// close flushes the data file and writes the manifest. After a failed pull
// that saved nothing, a directory it created is removed again, so that the
// same command can simply be run again.
func (s *saver) close(failure error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if failure != nil && s.f == nil {
		if s.created {
			os.Remove(s.dir)
		}
		return nil
	}
	if failure != nil {
		s.manifest.Incomplete = oneLine(failure.Error(), 500)
	}
	if s.f != nil {
		err := s.w.Flush()
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		s.f = nil
		if err != nil {
			return fmt.Errorf("--save %s: %w", s.path, err)
		}
	}
	if s.manifest.Files == nil {
		s.manifest.Files = []string{}
	}
	b, err := json.MarshalIndent(s.manifest, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, ManifestName), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--save: %w", err)
	}
	return nil
}
