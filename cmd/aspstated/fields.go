package main

import (
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// The configuration keys are read from struct tags, so that each component's
// Config (a driver's, the front end's) is the one place its keys, defaults and
// help are written, and the component does not import koanf:
//
//	koanf:"name"      the key, relative to the enclosing struct's key; "-" skips
//	                  the field; ",squash" puts a struct's keys at its parent's level
//	default:"value"   the default, written as on the command line (lists comma
//	                  separated); a struct with a SetDefaults method fills the
//	                  defaults it applies to zero fields itself, so they are not
//	                  written twice (a tag on such a field is an error)
//	help:"text"       the --help line; on a struct field, a prefix for its keys'
//	secret:"true"     --print-config masks the value
//
// Supported field types: nested structs, string, []string, int, int64, bool,
// time.Duration and []netip.Prefix. An exported field of one of these types
// must have a koanf tag (a key or "-"), so no field is left out by mistake.

// field is one configuration key bound to its place in a Config.
type field struct {
	key    string
	help   string
	secret bool
	v      reflect.Value // addressable
}

// defaulter is a Config that fills the defaults it gives zero fields.
type defaulter interface{ SetDefaults() }

var (
	durationType = reflect.TypeOf(time.Duration(0))
	prefixesType = reflect.TypeOf([]netip.Prefix(nil))
)

// fields lists the keys of the struct cfg points to, in declaration order.
func fields(cfg any) []field {
	var out []field
	walk(reflect.ValueOf(cfg).Elem(), "", "", &out)
	return out
}

func walk(v reflect.Value, prefix, helpPrefix string, out *[]field) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag, hasTag := sf.Tag.Lookup("koanf")
		if tag == "-" || (!hasTag && !supported(sf.Type)) {
			continue
		}
		if !hasTag {
			panic(fmt.Sprintf("config: %s.%s has no koanf tag (a key, or \"-\" if it is not configured)", t, sf.Name))
		}
		help := sf.Tag.Get("help")
		if sf.Type.Kind() == reflect.Struct {
			p, hp := prefix, helpPrefix
			if tag != ",squash" {
				p = prefix + tag + "."
			}
			if help != "" {
				hp = helpPrefix + help + ": "
			}
			walk(v.Field(i), p, hp, out)
			continue
		}
		if !supported(sf.Type) {
			panic(fmt.Sprintf("config: %s.%s (%s): type not supported as a configuration key", t, sf.Name, sf.Type))
		}
		*out = append(*out, field{key: prefix + tag, help: helpPrefix + help, secret: sf.Tag.Get("secret") == "true", v: v.Field(i)})
	}
}

func supported(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Bool, reflect.Struct:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String || t == prefixesType
	}
	return false
}

// setDefaults gives cfg its defaults: first each struct's SetDefaults, then
// the default tags.
func setDefaults(cfg any) error {
	callSetDefaults(reflect.ValueOf(cfg).Elem())
	var err error
	walkTags(reflect.ValueOf(cfg).Elem(), "", func(key, def string, v reflect.Value) {
		if err != nil {
			return
		}
		if !v.IsZero() {
			err = fmt.Errorf("%s: default given twice, by a default tag and by SetDefaults", key)
			return
		}
		err = decode(key, def, v)
	})
	return err
}

func callSetDefaults(v reflect.Value) {
	if d, ok := v.Addr().Interface().(defaulter); ok {
		d.SetDefaults()
	}
	for i := 0; i < v.NumField(); i++ {
		if f := v.Type().Field(i); f.IsExported() && f.Type.Kind() == reflect.Struct && f.Tag.Get("koanf") != "-" {
			callSetDefaults(v.Field(i))
		}
	}
}

// walkTags calls fn for every key that has a default tag.
func walkTags(v reflect.Value, prefix string, fn func(key, def string, v reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("koanf")
		if !sf.IsExported() || tag == "" || tag == "-" {
			continue
		}
		if sf.Type.Kind() == reflect.Struct {
			p := prefix
			if tag != ",squash" {
				p = prefix + tag + "."
			}
			walkTags(v.Field(i), p, fn)
			continue
		}
		if def, ok := sf.Tag.Lookup("default"); ok {
			fn(prefix+tag, def, v.Field(i))
		}
	}
}

// defineFlag declares f as a flag named by its key, with the field's current
// value as its default.
func defineFlag(fs *pflag.FlagSet, f field) {
	switch v := f.v; {
	case v.Type() == durationType:
		fs.Duration(f.key, time.Duration(v.Int()), f.help)
	case v.Type() == prefixesType:
		var def []string
		for _, p := range v.Interface().([]netip.Prefix) {
			def = append(def, p.String())
		}
		fs.StringSlice(f.key, def, f.help)
	case v.Kind() == reflect.String:
		fs.String(f.key, v.String(), f.help)
	case v.Kind() == reflect.Slice:
		fs.StringSlice(f.key, v.Interface().([]string), f.help)
	case v.Kind() == reflect.Int:
		fs.Int(f.key, int(v.Int()), f.help)
	case v.Kind() == reflect.Int64:
		fs.Int64(f.key, v.Int(), f.help)
	case v.Kind() == reflect.Bool:
		fs.Bool(f.key, v.Bool(), f.help)
	}
}

// decode stores raw, a value from a file (YAML or TOML types), the environment
// or a default tag (strings) or a flag (Go types), in v. Errors name the key.
func decode(key string, raw any, v reflect.Value) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))
	}
	if raw == nil { // a key written with no value, as in "listen:" in YAML
		v.Set(reflect.Zero(v.Type()))
		return nil
	}
	switch {
	case v.Type() == durationType:
		switch r := raw.(type) {
		case time.Duration:
			v.SetInt(int64(r))
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(r))
			if err != nil {
				return bad("%q is not a duration such as 30s, 500ms or 5m", r)
			}
			v.SetInt(int64(d))
		default:
			return bad("%v has no unit: write a duration such as 30s, 500ms or 5m", raw)
		}
	case v.Type() == prefixesType:
		list, err := stringList(raw)
		if err != nil {
			return bad("%v", err)
		}
		ps := make([]netip.Prefix, 0, len(list))
		for _, s := range list {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return bad("%q is not a CIDR prefix such as 10.0.0.0/8", s)
			}
			ps = append(ps, p.Masked())
		}
		v.Set(reflect.ValueOf(ps))
	case v.Kind() == reflect.String:
		switch r := raw.(type) {
		case string:
			v.SetString(r)
		case int, int64, float64, bool:
			v.SetString(fmt.Sprint(r)) // an unquoted YAML value such as version: 4.0
		default:
			return bad("%v is not a string", raw)
		}
	case v.Kind() == reflect.Slice:
		list, err := stringList(raw)
		if err != nil {
			return bad("%v", err)
		}
		v.Set(reflect.ValueOf(list))
	case v.Kind() == reflect.Int, v.Kind() == reflect.Int64:
		n, err := integer(raw)
		if err == nil && v.OverflowInt(n) {
			err = fmt.Errorf("%d is out of range", n)
		}
		if err != nil {
			return bad("%v", err)
		}
		v.SetInt(n)
	case v.Kind() == reflect.Bool:
		switch r := raw.(type) {
		case bool:
			v.SetBool(r)
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(r))
			if err != nil {
				return bad("%q is not true or false", r)
			}
			v.SetBool(b)
		default:
			return bad("%v is not true or false", raw)
		}
	}
	return nil
}

func integer(raw any) (int64, error) {
	switch r := raw.(type) {
	case int:
		return int64(r), nil
	case int64:
		return r, nil
	case float64:
		if r == math.Trunc(r) && math.Abs(r) < 1<<63 {
			return int64(r), nil
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(r), 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%v is not an integer", raw)
}

func stringList(raw any) ([]string, error) {
	switch r := raw.(type) {
	case []string:
		return r, nil
	case string:
		return splitList(r), nil
	case []any:
		out := make([]string, 0, len(r))
		for _, e := range r {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%v is not a string", e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%v is not a list of strings", raw)
}

// keyed rewrites the lines of a component's Validate error, "pkg: key: text",
// as "prefix.key: text" when prefix.key is a configuration key, so that every
// error names the key as the operator writes it.
func keyed(err error, prefix string, known map[string]bool) error {
	if err == nil {
		return nil
	}
	lines := strings.Split(err.Error(), "\n")
	for i, line := range lines {
		rest := line
		if pkg, after, ok := strings.Cut(line, ": "); ok && !strings.ContainsAny(pkg, " .") {
			rest = after
		}
		if key, text, ok := strings.Cut(rest, ": "); ok && known[prefix+key] {
			lines[i] = prefix + key + ": " + text
		} else if prefix != "" {
			lines[i] = strings.TrimSuffix(prefix, ".") + ": " + rest
		}
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}
