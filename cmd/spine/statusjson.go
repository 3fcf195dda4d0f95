package main

import (
	"io"
	"strconv"

	"github.com/spinehq/spine/internal/jsonw"
)

// writeStatusJSON writes `spine status --json` output to w in pieces of
// about 64 KB, as appendStatusJSON builds it.
func writeStatusJSON(w io.Writer, out []statusLoop) error {
	if len(out) == 0 {
		_, err := w.Write(appendStatusJSON(nil, out))
		return err
	}
	b := make([]byte, 0, 80<<10)
	b = append(b, "[\n"...)
	for i := range out {
		b = appendStatusLoop(b, &out[i], i == len(out)-1)
		if len(b) >= 64<<10 || i == len(out)-1 {
			if i == len(out)-1 {
				b = append(b, "]\n"...)
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	return nil
}

// appendStatusJSON appends `spine status --json` output: exactly what
// encoding/json's Encoder with SetIndent("", "  ") writes for out (the
// tests compare the two), without reflection or a second indenting pass
// (5,000 loops: a third of the command's time went there).
func appendStatusJSON(b []byte, out []statusLoop) []byte {
	if out == nil {
		return append(b, "null\n"...)
	}
	if len(out) == 0 {
		return append(b, "[]\n"...)
	}
	b = append(b, "[\n"...)
	for i := range out {
		b = appendStatusLoop(b, &out[i], i == len(out)-1)
	}
	return append(b, "]\n"...)
}

// appendStatusLoop appends one element of the array, with its comma
// unless it is the last.
func appendStatusLoop(b []byte, l *statusLoop, last bool) []byte {
	b = append(b, "  {\n"...)
	b = appendField(b, "    ", "loop_id", l.LoopID)
	b = appendField(b, "    ", "path", l.Path)
	b = appendField(b, "    ", "status", l.Status)
	b = appendField(b, "    ", "title", l.Title)
	b = appendField(b, "    ", "owner", l.Owner)
	b = appendField(b, "    ", "priority", l.Priority)
	b = append(b, "    \"heartbeat_stale\": "...)
	b = strconv.AppendBool(b, l.HeartbeatStale)
	b = append(b, ",\n    \"run_keys\": "...)
	b = appendStrings(b, "    ", l.RunKeys)
	b = append(b, ",\n    \"gaps\": "...)
	b = appendStrings(b, "    ", l.Gaps)
	b = append(b, ",\n    \"stages\": "...)
	switch {
	case l.Stages == nil:
		b = append(b, "null"...)
	case len(l.Stages) == 0:
		b = append(b, "[]"...)
	default:
		b = append(b, "[\n"...)
		for j := range l.Stages {
			st := &l.Stages[j]
			b = append(b, "      {\n"...)
			b = appendField(b, "        ", "title", st.Title)
			b = append(b, "        \"steps\": "...)
			switch {
			case st.Steps == nil:
				b = append(b, "null"...)
			case len(st.Steps) == 0:
				b = append(b, "[]"...)
			default:
				b = append(b, "[\n"...)
				for k := range st.Steps {
					b = append(b, "          {\n"...)
					b = appendField(b, "            ", "name", st.Steps[k].Name)
					b = append(b, "            \"state\": "...)
					b = jsonw.AppendString(b, st.Steps[k].State)
					b = append(b, "\n          }"...)
					if k < len(st.Steps)-1 {
						b = append(b, ',')
					}
					b = append(b, '\n')
				}
				b = append(b, "        ]"...)
			}
			b = append(b, "\n      }"...)
			if j < len(l.Stages)-1 {
				b = append(b, ',')
			}
			b = append(b, '\n')
		}
		b = append(b, "    ]"...)
	}
	b = append(b, ",\n    \"problems\": "...)
	b = appendStrings(b, "    ", l.Problems)
	b = append(b, "\n  }"...)
	if !last {
		b = append(b, ',')
	}
	b = append(b, '\n')
	return b
}

// appendField appends `indent"key": "value",\n`.
func appendField(b []byte, indent, key, value string) []byte {
	b = append(b, indent...)
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, "\": "...)
	b = jsonw.AppendString(b, value)
	return append(b, ",\n"...)
}

// appendStrings appends a JSON array of strings whose key is at indent.
func appendStrings(b []byte, indent string, ss []string) []byte {
	switch {
	case ss == nil:
		return append(b, "null"...)
	case len(ss) == 0:
		return append(b, "[]"...)
	}
	b = append(b, "[\n"...)
	for i, s := range ss {
		b = append(b, indent...)
		b = append(b, "  "...)
		b = jsonw.AppendString(b, s)
		if i < len(ss)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	b = append(b, indent...)
	return append(b, ']')
}
