package main

import "testing"

func TestSplice(t *testing.T) {
	old := "# B\n\nrun 1\n\n## status\n\nS1\n\n## Rolling operations\n\nR1\n\n## Reproduce\n\nP1\n"
	for _, c := range []struct{ name, doc, want string }{
		{"a new section goes before Reproduce, the others stay",
			"# B\n\nrun 2\n\n## Backup and restore\n\nB2\n\n## Reproduce\n\nP2\n",
			"# B\n\nrun 1\n\n## status\n\nS1\n\n## Rolling operations\n\nR1\n\n## Backup and restore\n\nB2\n\n## Reproduce\n\nP2\n"},
		{"a section measured again replaces its namesake in place",
			"# B\n\nrun 2\n\n## status\n\nS2\n\n## Reproduce\n\nP2\n",
			"# B\n\nrun 1\n\n## status\n\nS2\n\n## Rolling operations\n\nR1\n\n## Reproduce\n\nP2\n"},
	} {
		if got := splice(old, c.doc); got != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", c.name, got, c.want)
		}
	}
	// Spliced twice: the same document (the backup section is not duplicated).
	doc := "# B\n\nrun 2\n\n## Backup and restore\n\nB2\n\n## Reproduce\n\nP2\n"
	once := splice(old, doc)
	if twice := splice(once, doc); twice != once {
		t.Errorf("not idempotent:\n%q\n%q", once, twice)
	}
}
