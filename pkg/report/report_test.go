package report

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestSecretKey(t *testing.T) {
	for k, want := range map[string]bool{
		"token": true, "AXONIQ_AXONSERVER_ACCESSCONTROL_TOKEN": true, "axoniq.axonserver.accesscontrol.internal-token": true,
		"db.password": true, "api-key": true, "client_secret": true, "token.txt": true,
		"axonserver.properties": false, "notes.txt": false, "AXONIQ_AXONSERVER_NAME": false, "axoniq.axonserver.accesscontrol.systemtokenfile": false,
	} {
		if SecretKey(k) != want {
			t.Errorf("SecretKey(%q) = %v", k, !want)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := NewRedactor("tok-SECRET-1", "", "ab")
	props := "# comment with tok-SECRET-1\naxoniq.axonserver.accesscontrol.token=abc\n  db.password: pw\nname=n1\nempty.token=\n"
	got := r.Properties(props)
	want := "# comment with ******\naxoniq.axonserver.accesscontrol.token= ******\n  db.password: ******\nname=n1\nempty.token=\n"
	if got != want {
		t.Errorf("properties:\n%q\nwant\n%q", got, want)
	}
	if r.String("a tab ab") != "a tab ab" {
		t.Error("a short value masked")
	}
	env := []byte(`{"activeProfiles":[],"propertySources":[{"name":"f","properties":{"x.password":{"value":"pw","origin":"o"},"y":{"value":"tok-SECRET-1"},"z":{"value":3}}}]}`)
	out := string(r.Env(env))
	if strings.Contains(out, "pw") || strings.Contains(out, "tok-SECRET-1") || !strings.Contains(out, `"origin": "o"`) || !strings.Contains(out, `"value": 3`) {
		t.Errorf("env %s", out)
	}
	off := NewRedactor("tok-SECRET-1")
	off.Off = true
	if got := off.Properties("a.token=abc tok-SECRET-1\n"); got != "a.token=abc ******\n" {
		t.Errorf("--no-redact still removes the known value only: %q", got)
	}
}

func TestTail(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 10000; i++ {
		b.WriteString("line ")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString("\n")
	}
	all := b.String()
	got, cut, err := Tail(strings.NewReader(all), 100)
	if err != nil || !cut || len(got) > 100 || !strings.HasSuffix(all, string(got)) || !strings.HasPrefix(string(got), "line ") {
		t.Errorf("tail %q %v %v", got, cut, err)
	}
	got, cut, _ = Tail(strings.NewReader("short\n"), 100)
	if cut || string(got) != "short\n" {
		t.Errorf("short %q %v", got, cut)
	}
}

func TestBundleNeverAborts(t *testing.T) {
	var buf bytes.Buffer
	b := NewBundle(&buf, NewRedactor("tok-SECRET-1"), Manifest{CreatedAt: time.Unix(0, 0)})
	b.Add("a.txt", "a", func() ([]byte, error) { return []byte("has tok-SECRET-1"), nil })
	b.Add("b.txt", "b", func() ([]byte, error) { return nil, errors.New("refused tok-SECRET-1\nsecond line") })
	b.Add("c.txt", "c", func() ([]byte, error) { panic("boom") })
	b.Add("d.txt", "d", func() ([]byte, error) { return nil, Skip("not here") })
	b.Add("e.txt", "e", func() ([]byte, error) { return []byte("e"), nil })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	n := b.Counts()
	if n[Collected] != 2 || n[Failed] != 2 || n[Skipped] != 1 || b.Manifest.Complete {
		t.Errorf("counts %v complete %v", n, b.Manifest.Complete)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		if bytes.Contains(data, []byte("tok-SECRET-1")) {
			t.Errorf("%s holds the token", f.Name)
		}
		if f.Name == "errors.txt" && (!strings.Contains(string(data), "b.txt: refused ******") || !strings.Contains(string(data), "c.txt: internal error: boom") || strings.Contains(string(data), "second line")) {
			t.Errorf("errors.txt %q", data)
		}
	}
}

func TestRedactZip(t *testing.T) {
	var in bytes.Buffer
	zw := zip.NewWriter(&in)
	f, _ := zw.Create("logs/axonserver.log")
	_, _ = f.Write([]byte("token tok-SECRET-1 in a log"))
	_ = zw.Close()
	out := RedactZip(NewRedactor("tok-SECRET-1"), in.Bytes())
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	if err != nil || len(zr.File) != 1 {
		t.Fatalf("%v", err)
	}
	rc, _ := zr.File[0].Open()
	data, _ := io.ReadAll(rc)
	if string(data) != "token ****** in a log" {
		t.Errorf("%q", data)
	}
}
