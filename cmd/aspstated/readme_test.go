package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// The README's configuration tables (those headed "| Key | Default | Meaning |")
// list exactly the keys the binary defines as flags (what --help prints), each
// with its default, so the two cannot drift.
func TestReadmeConfigurationTables(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, fs, err := loadConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]*pflag.Flag{}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && f.Name != "print-config" && f.Name != "help" && f.Name != "version" {
			flags[f.Name] = f
		}
	})

	documented := map[string]bool{}
	inTable := false
	for i, line := range strings.Split(string(readme), "\n") {
		cells := tableCells(line)
		switch {
		case len(cells) == 3 && cells[0] == "Key" && cells[1] == "Default":
			inTable = true
			continue
		case cells == nil:
			inTable = false
		}
		if !inTable || strings.HasPrefix(cells[0], "---") {
			continue
		}
		keys := backquoted(cells[0])
		if len(keys) == 0 {
			t.Errorf("README.md:%d: no `key` in the first cell: %s", i+1, line)
		}
		for _, key := range keys {
			f, ok := flags[key]
			if !ok {
				t.Errorf("README.md:%d: %q is not a configuration key (no such flag)", i+1, key)
				continue
			}
			if documented[key] {
				t.Errorf("README.md:%d: %q is documented twice", i+1, key)
			}
			documented[key] = true
			if !readmeDefaultMatches(cells[1], f) {
				t.Errorf("README.md:%d: %s: default %q, but the flag's default is %q", i+1, key, cells[1], f.DefValue)
			}
		}
	}
	for name := range flags {
		if !documented[name] {
			t.Errorf("flag --%s is not in the README's configuration tables", name)
		}
	}
}

// tableCells splits a Markdown table row; nil if line is not one.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
		return nil
	}
	cells := strings.Split(line[1:len(line)-1], "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

var backquoteRE = regexp.MustCompile("`([^`]*)`")

func backquoted(s string) []string {
	var out []string
	for _, m := range backquoteRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

var mibRE = regexp.MustCompile(`^(\d+) MiB$`)

// readmeDefaultMatches: the cell's first backquoted value is the default
// (durations compared as durations, "N MiB" as N<<20, lists comma separated);
// a cell without one, such as "(none)", stands for an empty default.
func readmeDefaultMatches(cell string, f *pflag.Flag) bool {
	want := f.DefValue
	if f.Value.Type() == "stringSlice" {
		want = strings.Trim(want, "[]")
	}
	vals := backquoted(cell)
	if len(vals) == 0 {
		return want == ""
	}
	got := vals[0]
	if m := mibRE.FindStringSubmatch(got); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		got = strconv.FormatInt(n<<20, 10)
	}
	if f.Value.Type() == "duration" {
		g, err1 := time.ParseDuration(got)
		w, err2 := time.ParseDuration(want)
		return err1 == nil && err2 == nil && g == w
	}
	return got == want
}
