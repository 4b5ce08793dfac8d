package pub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
)

// fileSource is one file --files or --file-per-message publishes.
type fileSource struct {
	path  string // to open
	topic string // -t with {name} and {path} filled in
}

// fileSources lists the files of --files (globs) or --file-per-message (a
// folder, recursively; names starting with "." skipped), sorted by path,
// and checks each one's topic and size, before any connection.
func (o *Options) fileSources(r limits.Rules) ([]fileSource, error) {
	type found struct{ path, rel string }
	var all []found
	if o.FileDir != "" {
		fi, err := os.Stat(o.FileDir)
		switch {
		case err != nil:
			return nil, errs.Usagef("--file-per-message %s: %v", o.FileDir, unwrapPath(err))
		case !fi.IsDir():
			return nil, errs.Usagef("--file-per-message %s: not a folder: give a folder, or --files FILE", o.FileDir)
		}
		err = filepath.WalkDir(o.FileDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != o.FileDir && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			rel, err := filepath.Rel(o.FileDir, p)
			if err != nil {
				return err
			}
			all = append(all, found{p, filepath.ToSlash(rel)})
			return nil
		})
		if err != nil {
			return nil, errs.Usagef("--file-per-message %s: %v", o.FileDir, err)
		}
		if len(all) == 0 {
			return nil, errs.Usagef("--file-per-message %s: no file in the folder", o.FileDir)
		}
	}
	seen := map[string]bool{}
	for _, g := range o.Files {
		matches, err := filepath.Glob(g)
		if err != nil {
			return nil, errs.Usagef("--files %s: %v: check the brackets and backslashes of the pattern", quoteArg(g), err)
		}
		if len(matches) == 0 {
			return nil, errs.Usagef("--files %s: no such file", quoteArg(g))
		}
		for _, p := range matches {
			p = filepath.Clean(p)
			if !seen[p] {
				seen[p] = true
				all = append(all, found{p, filepath.ToSlash(p)})
			}
		}
	}
	slices.SortFunc(all, func(a, b found) int { return strings.Compare(a.rel, b.rel) })
	out := make([]fileSource, 0, len(all))
	for _, f := range all {
		topic := strings.NewReplacer("{name}", path.Base(f.rel), "{path}", f.rel).Replace(o.Topic)
		var err error
		if o.Retain {
			err = r.RetainTopic(topic)
		} else {
			err = r.Topic(topic)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		fi, err := os.Stat(f.path)
		switch {
		case err != nil:
			return nil, errs.Usagef("%s: %v", f.path, unwrapPath(err))
		case fi.IsDir():
			return nil, errs.Usagef("--files %s: is a directory: give files, or --file-per-message DIR for a folder", f.path)
		case fi.Mode().IsRegular() && fi.Size() > int64(r.MaxPayload):
			return nil, fmt.Errorf("%s: %w: publish a smaller file, or split it", f.path, r.Payload(int(min(fi.Size(), 1<<40))))
		}
		out = append(out, fileSource{path: f.path, topic: topic})
	}
	return out, nil
}

// fileMessage reads one file into a message of the plan.
func (p *plan) fileMessage(ctx context.Context, f fileSource) (*session.Message, error) {
	data, err := cmdutil.ReadFile(ctx, f.path, p.rules, splitHint)
	if err != nil {
		return nil, err
	}
	m := p.msg // the properties are shared, read-only
	m.Topic = f.topic
	if m.Payload, err = p.enc.Decode(nil, data, f.path); err != nil {
		return nil, err
	}
	if err := p.rules.Payload(len(m.Payload)); err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	if p.utf8 && !utf8.Valid(m.Payload) {
		return nil, errs.Usagef("--payload-format utf8: %s is not valid UTF-8: use --payload-format bytes", f.path)
	}
	return &m, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
