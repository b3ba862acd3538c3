package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/badgerstore"
	"github.com/aspstate/aspstate/backends/boltstore"
	"github.com/aspstate/aspstate/backends/recordcodec"
)

const exportUsage = `Usage: aspstate export [--out F] [--admin ADDR | --bbolt FILE | --badger DIR]

Writes every live session, with its full record (blob, timeout, uninitialized
flag, lock state, cookie, lock date) and remaining lifetime, as a
backends/recordcodec stream: to stdout, or to F (written under a temporary
name and renamed once complete, mode 0600). Sessions are personal data: keep
the file accordingly.

From a running gateway with --admin (or ASPSTATE_ADMIN); offline, from a
bbolt file (--bbolt) or badger directory (--badger) that no server has open.
A progress line goes to stderr when it is a terminal.

`

const importUsage = `Usage: aspstate import [--in F] [--replace] [--admin ADDR | --bbolt FILE | --badger DIR]

Loads an export stream (from stdin, or F) into a running gateway with --admin
(or ASPSTATE_ADMIN), or offline into a bbolt file (--bbolt) or badger
directory (--badger) that no server has open (created if missing). Lock
state, cookies, lock dates, the uninitialized flag and the remaining lifetime
are kept; sessions that expired meanwhile are skipped. An existing session is
kept unless --replace. Prints what it imported, skipped and found expired.
A progress line goes to stderr when it is a terminal.

`

// offlineFlags name a store to open in this process instead of asking a
// gateway.
type offlineFlags struct {
	bbolt, badger string
}

func (o *offlineFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.bbolt, "bbolt", "", "offline: a bbolt data file (backend.bbolt.path) no server has open")
	fs.StringVar(&o.badger, "badger", "", "offline: a badger data directory (backend.badger.path) no server has open")
}

// check reports a usage error: two stores, or a store and an explicit --admin.
func (o *offlineFlags) check(fs *pflag.FlagSet) error {
	switch {
	case o.bbolt != "" && o.badger != "":
		return errors.New("give one of --bbolt and --badger")
	case (o.bbolt != "" || o.badger != "") && fs.Changed("admin"):
		return errors.New("give either --admin (a running gateway) or --bbolt/--badger (a store no server has open)")
	}
	return nil
}

func (o *offlineFlags) offline() bool { return o.bbolt != "" || o.badger != "" }

// moverStore is an offline store.
type moverStore interface {
	backends.Mover
	Close() error
}

// open opens the named store. For an export (create false) it must exist:
// opening would otherwise create an empty one. A store a running server
// holds gives the stores' own "locked by another process" error, after at
// most bbolt's one-second wait for its file lock.
func (o *offlineFlags) open(create bool, stderr io.Writer) (moverStore, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.bbolt != "" {
		if !create {
			fi, err := os.Stat(o.bbolt)
			if err != nil {
				return nil, fmt.Errorf("--bbolt: %w", err)
			}
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("--bbolt %s: not a regular file", o.bbolt)
			}
		}
		return boltstore.Open(boltstore.Config{Path: o.bbolt, Logger: log})
	}
	if !create {
		if _, err := os.Stat(filepath.Join(o.badger, "MANIFEST")); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("--badger %s: not a badger data directory (no MANIFEST)", o.badger)
			}
			return nil, fmt.Errorf("--badger: %w", err)
		}
	}
	return badgerstore.Open(badgerstore.Config{Path: o.badger, Logger: log})
}

func (o *offlineFlags) String() string {
	if o.bbolt != "" {
		return o.bbolt
	}
	return o.badger
}

func runExport(ctx context.Context, args []string, s streams) int {
	fs, af := newAdminFlagSet("export", exportUsage, s)
	out := fs.String("out", "-", "file to write (-: stdout)")
	idle := fs.Duration("idle-timeout", defaultIdleTimeout, "with --admin: fail when no byte arrives for this long (0: wait forever)")
	var of offlineFlags
	of.register(fs)
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	if err := of.check(fs); err != nil || fs.NArg() > 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		fmt.Fprintf(s.stderr, "aspstate export: %v\n", err)
		return exitUsage
	}
	if *out == "-" && isTerminal(s.stdout) {
		fmt.Fprintln(s.stderr, "aspstate export: not writing a binary stream to a terminal: give --out F or redirect stdout")
		return exitUsage
	}
	var c *adminClient
	if !of.offline() {
		var ok bool
		if c, ok = adminClientOr(fs, af, s); !ok {
			return exitUsage
		}
	}
	w, commit, abort, err := createOutput(*out, s.stdout)
	if err != nil {
		return fail(s, "aspstate export", err)
	}
	p := newProgress(s.stderr, "export", 0)
	if of.offline() {
		err = exportOffline(ctx, &of, w, p, s.stderr)
	} else {
		err = exportAPI(ctx, c, w, p, *idle)
	}
	p.finish()
	if err == nil {
		err = commit()
	}
	if err != nil {
		abort()
		return fail(s, "aspstate export", err)
	}
	if isTerminal(s.stderr) {
		fmt.Fprintf(s.stderr, "exported %d sessions\n", p.records.Load())
	}
	return exitOK
}

// createOutput opens the export's destination: stdout for "-", otherwise a
// temporary file beside name that commit syncs and renames to name, so a
// failed export never leaves a file that looks complete.
func createOutput(name string, stdout io.Writer) (w io.Writer, commit func() error, abort func(), err error) {
	if name == "-" {
		return stdout, func() error { return nil }, func() {}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.partial")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--out: %w", err)
	}
	commit = func() error {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("--out %s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("--out %s: %w", name, err)
		}
		if err := os.Rename(f.Name(), name); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		return nil
	}
	abort = func() {
		f.Close()
		os.Remove(f.Name())
	}
	return f, commit, abort, nil
}

// exportAPI copies GET /api/export to w, decoding each record on the way:
// it counts them, and a damaged or cut stream is an error rather than a
// file that looks complete.
func exportAPI(ctx context.Context, c *adminClient, w io.Writer, p *progress, idle time.Duration) error {
	ctx, iw, stop := watchIdle(ctx, idle)
	defer stop()
	err := exportStream(ctx, c, w, p, iw)
	return iw.explain(err)
}

func exportStream(ctx context.Context, c *adminClient, w io.Writer, p *progress, iw *idleWatch) error {
	resp, err := c.do(ctx, "GET", "/api/export", nil, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rd := recordcodec.NewReader(countingReader{idleReader{resp.Body, iw}, p})
	wr := recordcodec.NewWriter(w)
	for {
		key, rec, remaining, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			n := p.records.Load()
			if errors.Is(err, recordcodec.ErrCorrupt) {
				return fmt.Errorf("the export stream is damaged after %d sessions: %w", n, err)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &unreachableError{fmt.Errorf("the export stream broke off after %d sessions (see the gateway's log): %w", n, err)}
		}
		if err := wr.Write(key, &rec, remaining); err != nil {
			return err
		}
		p.add(1, 0)
	}
	return wr.Flush()
}

// exportOffline walks an offline store into w. The remaining lifetime is
// the deadline less now, read as each record is written.
func exportOffline(ctx context.Context, of *offlineFlags, w io.Writer, p *progress, stderr io.Writer) (err error) {
	st, err := of.open(false, stderr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	wr := recordcodec.NewWriter(w)
	err = st.Walk(ctx, func(key string, rec *backends.Record, expires time.Time) error {
		remaining := time.Until(expires)
		if remaining <= 0 {
			return nil // expired during the walk
		}
		if err := wr.Write(key, rec, remaining); err != nil {
			return err
		}
		p.add(1, int64(len(key)+len(rec.Data)))
		return nil
	})
	if err != nil {
		return err
	}
	return wr.Flush()
}

// importResult is the answer of POST /api/import, and what an offline
// import counts.
type importResult struct {
	Imported int64 `json:"imported"`
	Skipped  int64 `json:"skipped"`
	Expired  int64 `json:"expired"`
}

func runImport(ctx context.Context, args []string, s streams) int {
	fs, af := newAdminFlagSet("import", importUsage, s)
	in := fs.String("in", "-", "file to read (-: stdin)")
	replace := fs.Bool("replace", false, "overwrite sessions that exist (default: keep them, count them as skipped)")
	idle := fs.Duration("idle-timeout", defaultIdleTimeout, "with --admin: fail when the gateway takes no byte of the stream, or sends no answer, for this long (0: wait forever)")
	var of offlineFlags
	of.register(fs)
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	if err := of.check(fs); err != nil || fs.NArg() > 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		fmt.Fprintf(s.stderr, "aspstate import: %v\n", err)
		return exitUsage
	}
	var c *adminClient
	if !of.offline() {
		var ok bool
		if c, ok = adminClientOr(fs, af, s); !ok {
			return exitUsage
		}
	}
	var r io.Reader = s.stdin
	var size int64
	if *in == "-" {
		if isTerminal(s.stdin) {
			fmt.Fprintln(s.stderr, "aspstate import: not reading a binary stream from a terminal: give --in F or redirect stdin")
			return exitUsage
		}
	} else {
		f, err := os.Open(*in)
		if err != nil {
			return fail(s, "aspstate import", fmt.Errorf("--in: %w", err))
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		r = f
	}
	p := newProgress(s.stderr, "import", size)
	var res importResult
	var err error
	if of.offline() {
		res, err = importOffline(ctx, &of, recordcodec.NewReader(countingReader{r, p}), *replace, p, s.stderr)
	} else {
		res, err = importAPI(ctx, c, countingReader{r, p}, *replace, *idle)
	}
	p.finish()
	if err != nil {
		return fail(s, "aspstate import", err)
	}
	fmt.Fprintf(s.stdout, "imported %d, skipped %d (present already; --replace overwrites), expired %d\n",
		res.Imported, res.Skipped, res.Expired)
	return exitOK
}

func importAPI(ctx context.Context, c *adminClient, body io.Reader, replace bool, idle time.Duration) (importResult, error) {
	ctx, iw, stop := watchIdle(ctx, idle)
	defer stop()
	res, err := importStream(ctx, c, idleReader{body, iw}, replace)
	return res, iw.explain(err)
}

func importStream(ctx context.Context, c *adminClient, body io.Reader, replace bool) (importResult, error) {
	q := url.Values{"replace": {"0"}}
	if replace {
		q.Set("replace", "1")
	}
	var res importResult
	resp, err := c.do(ctx, "POST", "/api/import", q, io.NopCloser(body), "application/octet-stream")
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if err := decodeJSON(resp.Body, &res); err != nil {
		return res, &unreachableError{fmt.Errorf("reading the answer: %w", err)}
	}
	return res, nil
}

// importWorkers install records concurrently, so that durable stores share
// their syncs between them (group commit) instead of one per session.
const importWorkers = 8

type importItem struct {
	key     string
	rec     backends.Record
	expires time.Time
}

// importOffline installs every record of rd into the offline store, keeping
// each one's remaining lifetime from the moment it is read.
func importOffline(ctx context.Context, of *offlineFlags, rd *recordcodec.Reader, replace bool, p *progress, stderr io.Writer) (res importResult, err error) {
	st, err := of.open(true, stderr)
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var imported, skipped atomic.Int64
	var firstErr error
	var once sync.Once
	setErr := func(e error) { once.Do(func() { firstErr = e; cancel() }) }
	items := make(chan importItem, 2*importWorkers)
	var wg sync.WaitGroup
	for range importWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range items {
				stored, err := st.Install(ctx, it.key, it.rec, it.expires, replace)
				if err != nil {
					setErr(fmt.Errorf("installing a session: %w", err))
					continue
				}
				if stored {
					imported.Add(1)
				} else {
					skipped.Add(1)
				}
				p.add(1, 0)
			}
		}()
	}
	var read int64
feed:
	for {
		key, rec, remaining, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			setErr(fmt.Errorf("reading the stream after %d sessions (those are in): %w", read, err))
			break
		}
		read++
		if remaining <= 0 {
			res.Expired++
			continue
		}
		select {
		case items <- importItem{key, rec, time.Now().Add(remaining)}:
		case <-ctx.Done():
			break feed
		}
	}
	close(items)
	wg.Wait()
	res.Imported, res.Skipped = imported.Load(), skipped.Load()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return res, firstErr
}
