package axonserver

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// fixture is one entry of testdata/fixtures.json.
type fixture struct {
	File        string `json:"file"`
	Method      string `json:"method"`
	Path        string `json:"path"`
	Query       string `json:"query"`
	Status      int    `json:"status"`
	ErrorCode   string `json:"errorCode"`
	ContentType string `json:"contentType"`
}

var (
	indexOnce sync.Once
	index     []fixture
)

func loadIndex(t *testing.T) []fixture {
	t.Helper()
	indexOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join("testdata", "fixtures.json"))
		if err != nil {
			panic(err)
		}
		var v struct {
			Fixtures []fixture `json:"fixtures"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			panic(err)
		}
		index = v.Fixtures
	})
	return index
}

func lookup(t *testing.T, file string) fixture {
	t.Helper()
	for _, f := range loadIndex(t) {
		if f.File == file {
			return f
		}
	}
	t.Fatalf("fixture %s not in fixtures.json", file)
	return fixture{}
}

// recorded is what the fake server saw.
type recorded struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (r *recorded) last() *http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return nil
	}
	return r.reqs[len(r.reqs)-1]
}

// serveFixtures starts an httptest server answering with the given fixture files
// (by their method+path+query from the index; unknown requests get Spring's 404).
func serveFixtures(t *testing.T, files ...string) (*httptest.Server, *recorded) {
	t.Helper()
	fx := make([]fixture, 0, len(files))
	for _, f := range files {
		fx = append(fx, lookup(t, f))
	}
	rec := &recorded{}
	srv := httptest.NewServer(fixtureHandler(t, fx, rec))
	t.Cleanup(srv.Close)
	return srv, rec
}

func fixtureHandler(t *testing.T, fx []fixture, rec *recorded) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r)
		rec.body = append(rec.body, b)
		rec.mu.Unlock()
		for _, f := range fx {
			if f.Method != r.Method || f.Path != r.URL.Path || (f.Query != "" && f.Query != r.URL.RawQuery) {
				continue
			}
			writeFixture(t, w, f)
			return
		}
		nf := lookup(t, "se/not-found.json")
		writeFixture(t, w, nf)
	})
}

func writeFixture(t *testing.T, w http.ResponseWriter, f fixture) {
	if f.ErrorCode != "" {
		w.Header().Set("AxonIQ-ErrorCode", f.ErrorCode)
	}
	if f.ContentType != "" {
		w.Header().Set("Content-Type", f.ContentType)
	}
	var body []byte
	if f.File != "" {
		var err error
		body, err = os.ReadFile(filepath.Join("testdata", f.File))
		if err != nil {
			t.Errorf("fixture %s: %v", f.File, err)
		}
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write(body)
}

func TestFixtureIndexComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range loadIndex(t) {
		if f.File == "" {
			continue
		}
		seen[f.File] = true
		if _, err := os.Stat(filepath.Join("testdata", f.File)); err != nil {
			t.Errorf("indexed fixture missing: %v", err)
		}
	}
	err := filepath.Walk("testdata", func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel("testdata", p)
		rel = filepath.ToSlash(rel)
		if rel == "fixtures.json" || filepath.Base(rel) == "README.md" {
			return nil
		}
		if !seen[rel] {
			t.Errorf("fixture %s is not listed in fixtures.json", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// every directory has a README naming its sources
	dirs, _ := os.ReadDir("testdata")
	for _, d := range dirs {
		if d.IsDir() {
			if _, err := os.Stat(filepath.Join("testdata", d.Name(), "README.md")); err != nil {
				t.Errorf("testdata/%s has no README.md", d.Name())
			}
		}
	}
}

// Every JSON fixture answered with 2xx is valid JSON, except the deliberately broken ones.
func TestFixturesAreValidJSON(t *testing.T) {
	for _, f := range loadIndex(t) {
		if f.File == "" || filepath.Ext(f.File) != ".json" || filepath.Dir(f.File) == "errors" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("testdata", f.File))
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Errorf("%s is not valid JSON", f.File)
		}
	}
}
