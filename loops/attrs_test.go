package loops

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseInfo(t *testing.T) {
	tests := []struct {
		info  string
		lang  string
		attrs []Attr
		ok    bool
		err   string
	}{
		// Documentation blocks: no attribute list.
		{info: "", lang: "", ok: false},
		{info: "sh", lang: "sh", ok: false},
		{info: "bash title=x", lang: "bash", ok: false},
		{info: "  sh  ", lang: "sh", ok: false},
		// key=value lists.
		{info: "sh {name=zpool-list artifact=10-post-zpool-list.txt}", lang: "sh",
			attrs: []Attr{{"name", "zpool-list"}, {"artifact", "10-post-zpool-list.txt"}}, ok: true},
		{info: "sh{name=a}", lang: "sh", attrs: []Attr{{"name", "a"}}, ok: true},
		{info: "sh { name=a , gate=G }", lang: "sh", attrs: []Attr{{"name", "a"}, {"gate", "G"}}, ok: true},
		{info: "sh {name=a\tdestructive}", lang: "sh", attrs: []Attr{{"name", "a"}, {"destructive", "true"}}, ok: true},
		{info: `sh {name="a b" host='x y' note="say \"hi\"" path="c:\\d"}`, lang: "sh",
			attrs: []Attr{{"name", "a b"}, {"host", "x y"}, {"note", `say "hi"`}, {"path", `c:\d`}}, ok: true},
		{info: `sh {note='it\'s'}`, lang: "sh", ok: true, err: `attribute "note": unexpected "s'" after the closing quote`},
		{info: `sh {a="x"y}`, lang: "sh", ok: true, err: `attribute "a": unexpected "y" after the closing quote`},
		{info: `sh {#id .class}`, lang: "sh", ok: true, err: `attribute list: "#id" is not an attribute name`},
		{info: `sh {a'b=1}`, lang: "sh", ok: true, err: `attribute list: "a'b" is not an attribute name`},
		{info: `sh {a='x}'}`, lang: "sh", attrs: []Attr{{"a", "x}"}}, ok: true},
		{info: "sh {empty=}", lang: "sh", attrs: []Attr{{"empty", ""}}, ok: true},
		{info: "sh {}", lang: "sh", ok: true},
		{info: "sh {a=1 =2}", lang: "sh", ok: true, err: `attribute list: empty key at "=2"`},
		{info: `sh {a="unterminated}`, lang: "sh", ok: true, err: `attribute "a": unterminated quote`},
		{info: "sh {name=a", lang: "sh", ok: true, err: `attribute list "{name=a" does not end with }`},
		{info: "{name=a}", lang: "", attrs: []Attr{{"name", "a"}}, ok: true},
		// Runme-style JSON.
		{info: `sh {"name":"x"}`, lang: "sh", attrs: []Attr{{"name", "x"}}, ok: true},
		{info: `sh { "name": "x", "background": true, "timeout": 90, "allow_failure": false }`, lang: "sh",
			attrs: []Attr{{"name", "x"}, {"background", "true"}, {"timeout", "90"}, {"allow_failure", "false"}}, ok: true},
		{info: `sh {"name":"x","n":null}`, lang: "sh", ok: true, err: `attribute "n": value must be a string, number or boolean`},
		{info: `sh {"name":"x",}`, lang: "sh", ok: true, err: "attribute list: invalid JSON: invalid character '}' looking for beginning of object key string"},
		{info: `sh {"name" "x"}`, lang: "sh", ok: true, err: `attribute list: invalid JSON value for "name": invalid character '"' after object key`},
		{info: `sh {"name":"x"}}`, lang: "sh", ok: true, err: `attribute list: unexpected "}" after the JSON object`},
		{info: `sh {"a":"\u00e9"}`, lang: "sh", attrs: []Attr{{"a", "é"}}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.info, func(t *testing.T) {
			lang, attrs, ok, err := ParseInfo(tt.info)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if lang != tt.lang || ok != tt.ok || gotErr != tt.err {
				t.Errorf("ParseInfo(%q) = %q, ok %v, err %q; want %q, ok %v, err %q", tt.info, lang, ok, gotErr, tt.lang, tt.ok, tt.err)
			}
			if err == nil {
				if diff := cmp.Diff(tt.attrs, attrs); diff != "" {
					t.Errorf("attrs (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestCheckArtifactName(t *testing.T) {
	for name, ok := range map[string]bool{
		"10-post-zpool-list.txt":  true,
		"a..b.txt":                true,
		"":                        false,
		".":                       false,
		"..":                      false,
		"../x":                    false,
		"../../etc/passwd":        false,
		"a/b":                     false,
		`..\x`:                    false,
		"/abs":                    false,
		".hidden":                 false,
		"nul\x00":                 false,
		"line\nbreak":             false,
		string(make([]byte, 201)): false,
	} {
		if err := CheckArtifactName(name); (err == nil) != ok {
			t.Errorf("CheckArtifactName(%q) = %v, want ok %v", name, err, ok)
		}
	}
}

func TestStepCapability(t *testing.T) {
	for _, tt := range []struct {
		s    Step
		want string
	}{
		{Step{Name: "a"}, "step.a"},
		{Step{Name: "a", Cap: "infra.x"}, "infra.x"},
		{Step{Name: "v", Kind: KindVerify}, "verify.pack.run"},
	} {
		if got := tt.s.Capability(); got != tt.want {
			t.Errorf("Capability(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}
