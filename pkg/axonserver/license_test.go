package axonserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestLicenseInfoDecode(t *testing.T) {
	for in, want := range map[string]LicenseInfo{
		`{"expiryDate":"2026-12-31","edition":"Enterprise edition","licensee":"ACME","featureList":["A","B"]}`:                  {ExpiryDate: "2026-12-31", Edition: "Enterprise edition", Licensee: "ACME", Features: []string{"A", "B"}},
		`{"expiryDate":[2026,1,2],"edition":"Standard Edition","licensee":null,"featureList":[{"feature":"X","enabled":true}]}`: {ExpiryDate: "2026-01-02", Edition: "Standard Edition", Features: []string{"X"}},
		`{"expiryDate":null,"edition":"Standard Edition","featureList":[]}`:                                                     {Edition: "Standard Edition"},
	} {
		var got LicenseInfo
		if err := json.Unmarshal([]byte(in), &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
}

func TestLicenseAndGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/public/license":
			_, _ = w.Write([]byte(`{"expiryDate":"2027-01-01","edition":"Enterprise edition","featureList":[]}`))
		case "/actuator/health":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"DOWN"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, srv.Client(), WithNode("n1"))
	if err != nil {
		t.Fatal(err)
	}
	li, err := c.License(context.Background())
	if err != nil || li.ExpiryDate != "2027-01-01" {
		t.Errorf("license %+v %v", li, err)
	}
	if b, err := c.Get(context.Background(), "/actuator/health"); err != nil || string(b) != `{"status":"DOWN"}` {
		t.Errorf("health body %q %v", b, err)
	}
	if _, err := c.Get(context.Background(), "/nope"); !IsNotFound(err) {
		t.Errorf("404: %v", err)
	}
}
