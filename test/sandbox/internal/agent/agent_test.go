package agent

import "testing"

func TestIPPool(t *testing.T) {
	p, err := newIPPool("198.19.7.0/25")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 126; i++ {
		ip, err := p.take()
		if err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
		if seen[ip] || ip == "198.19.7.0" || ip == "198.19.7.127" {
			t.Fatalf("bad or duplicate address %s", ip)
		}
		seen[ip] = true
	}
	if _, err := p.take(); err == nil {
		t.Fatal("pool not exhausted after 126 addresses")
	}
	p.release("198.19.7.42")
	if ip, err := p.take(); err != nil || ip != "198.19.7.42" {
		t.Fatalf("after release: %s %v", ip, err)
	}
}

func TestIPPoolReserve(t *testing.T) {
	p, _ := newIPPool("198.19.7.0/25")
	if !p.reserve("198.19.7.9") || p.reserve("198.19.7.9") {
		t.Fatal("reserve twice")
	}
	for _, bad := range []string{"198.19.7.0", "198.19.7.127", "198.19.8.9", "10.0.0.1", "x"} {
		if p.reserve(bad) {
			t.Errorf("reserved %s", bad)
		}
	}
	for i := 0; i < 125; i++ {
		if ip, err := p.take(); err != nil || ip == "198.19.7.9" {
			t.Fatalf("take %d: %s %v", i, ip, err)
		}
	}
}
