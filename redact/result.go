package redact

import (
	"reflect"
	"strings"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// Result redacts, in place, every string a result carries: service,
// operation and stage names, group values, gap and rule descriptions,
// warning examples and input names. It walks the result's exported fields,
// so a field added to analyze.Result later is covered without a change
// here. Trace and span IDs (fields named Exemplars or ending in ID or IDs)
// are left as they are: they are how a number leads back to a trace.
//
// A struct with string fields Key and Value (a group) has its Value
// redacted as a value of that key (Redactor.Value), so a group keyed by a
// listed key shows pseudonyms.
func Result(res *analyze.Result, r *Redactor) {
	if res == nil {
		return
	}
	Walk(res, r)
}

// Walk redacts, in place, every exported string reachable from the pointer
// v the way Result does: for the other values commands print (an
// explained trace, a snapshot, a comparison).
func Walk(v any, r *Redactor) {
	if v == nil || r == nil {
		return
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return
	}
	walk(rv.Elem(), r, 0)
}

// maxDepth bounds the walk; results are shallow trees.
const maxDepth = 32

var skipType = map[reflect.Type]bool{
	reflect.TypeFor[analyze.Dist]():  true, // numbers and trace IDs only
	reflect.TypeFor[analyze.Slice](): true,
}

func skipField(name string) bool {
	return name == "Exemplars" || strings.HasSuffix(name, "ID") || strings.HasSuffix(name, "IDs")
}

func walk(v reflect.Value, r *Redactor, depth int) {
	if depth > maxDepth || skipType[v.Type()] {
		return
	}
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(r.String(v.String()))
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), r, depth+1)
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), r, depth+1)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			k := reflect.New(v.Type().Key()).Elem()
			k.Set(it.Key())
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			walk(k, r, depth+1)
			walk(e, r, depth+1)
			out.SetMapIndex(k, e)
		}
		if v.CanSet() {
			v.Set(out)
		}
	case reflect.Struct:
		t := v.Type()
		key := ""
		if f, ok := t.FieldByName("Key"); ok && f.Type.Kind() == reflect.String {
			if fv, ok := t.FieldByName("Value"); ok && fv.Type.Kind() == reflect.String {
				key = v.FieldByIndex(f.Index).String()
			}
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() || skipField(f.Name) {
				continue
			}
			fv := v.Field(i)
			if key != "" && f.Name == "Value" && fv.CanSet() {
				fv.SetString(r.Value(key, fv.String()))
				continue
			}
			if key != "" && f.Name == "Key" {
				continue // the key is the user's own word
			}
			walk(fv, r, depth+1)
		}
	}
}

// LearnDataset records the values the dataset kept for the listed keys
// (the reader keeps them when they are in sources.Options.Keep), so they
// are cut out of names and numbered for pseudonyms.
func LearnDataset(ds *model.Dataset, r *Redactor) {
	if ds == nil || ds.Catalog == nil || len(r.keys) == 0 {
		return
	}
	seen := map[string][]string{}
	for _, sh := range ds.Catalog.Shapes() {
		for _, a := range sh.Attrs {
			if r.keys[a.Key] {
				seen[a.Key] = append(seen[a.Key], a.Value)
			}
		}
	}
	for k, vs := range seen {
		r.Learn(k, vs...)
	}
}
