package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func netnsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// claimNetNS creates the first free namespace axsb-<i>, starting at a hash of
// the directory so that the same DIR tends to get the same addresses.
// `ip netns add` fails when the name exists, which makes the claim atomic
// among concurrent `up`s.
func claimNetNS(start int) (int, error) {
	for k := 0; k < MaxIndex; k++ {
		i := (start + k) % MaxIndex
		name := fmt.Sprintf("axsb-%d", i)
		if netnsExists(name) || linkExists(fmt.Sprintf("axsb-h%d", i)) {
			continue
		}
		if err := run("ip", "netns", "add", name); err != nil {
			if netnsExists(name) {
				continue // lost a race
			}
			return 0, err
		}
		return i, nil
	}
	return 0, fmt.Errorf("no free sandbox index: %d network namespaces axsb-* exist", MaxIndex)
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// setupNetwork wires the namespace: lo up, a veth pair host<->namespace with a
// /30, and a host route for the pod and service ranges into the namespace, so
// that nothing addressed to the sandbox ever leaves the machine. The namespace
// gets no default route: it can reach only its own addresses and the host's
// end of the veth.
func setupNetwork(s *State) error {
	ns := s.NetNS
	steps := [][]string{
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "link", "add", s.HostVeth, "type", "veth", "peer", "name", s.NSVeth, "netns", ns},
		{"ip", "addr", "add", s.HostIP + "/30", "dev", s.HostVeth},
		{"ip", "link", "set", s.HostVeth, "up"},
		{"ip", "-n", ns, "addr", "add", s.NSIP + "/30", "dev", s.NSVeth},
		{"ip", "-n", ns, "link", "set", s.NSVeth, "up"},
		{"ip", "route", "add", s.PodCIDR, "via", s.NSIP, "dev", s.HostVeth},
		{"ip", "route", "add", s.SvcCIDR, "via", s.NSIP, "dev", s.HostVeth},
	}
	for _, st := range steps {
		if err := run(st[0], st[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// teardownNetwork removes what setupNetwork made; deleting one end of a veth
// removes the pair and its routes.
func teardownNetwork(s *State) []error {
	var errs []error
	if s.HostVeth != "" && linkExists(s.HostVeth) {
		if err := run("ip", "link", "del", s.HostVeth); err != nil {
			errs = append(errs, err)
		}
	}
	if s.NetNS != "" && netnsExists(s.NetNS) {
		if err := run("ip", "netns", "del", s.NetNS); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// GC removes the network namespaces axsb-* (and their veth pairs) in which no
// process runs any more: what sandboxes that were never brought down (a
// killed `up`, a machine reboot of the processes) left behind. A live sandbox
// always has processes in its namespace.
func GC(log func(string, ...any)) error {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "axsb-") {
			continue
		}
		out, err := exec.Command("ip", "netns", "pids", name).Output()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			continue
		}
		host := "axsb-h" + strings.TrimPrefix(name, "axsb-")
		if linkExists(host) {
			_ = run("ip", "link", "del", host)
		}
		if err := run("ip", "netns", "del", name); err != nil {
			return err
		}
		log("removed unused network namespace %s", name)
	}
	return nil
}
