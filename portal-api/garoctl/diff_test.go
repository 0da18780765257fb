package garoctl

import (
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	a := splitLines("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n")
	b := splitLines("a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\n")
	got := unifiedDiff("x", "y", a, b, 3)
	want := `--- x
+++ y
@@ -1,5 +1,5 @@
 a
-b
+B
 c
 d
 e
@@ -10,3 +10,4 @@
 j
 k
 l
+m
`
	if got != want {
		t.Errorf("diff =\n%s\nwant\n%s", got, want)
	}
	if got := unifiedDiff("x", "y", a, a, 3); got != "--- x\n+++ y\n" {
		t.Errorf("diff of equal texts =\n%s", got)
	}
	if got := unifiedDiff("/dev/null", "y", nil, splitLines("a\nb\n"), 3); !strings.HasSuffix(got, "@@ -0,0 +1,2 @@\n+a\n+b\n") {
		t.Errorf("diff from nothing =\n%s", got)
	}
	if got := unifiedDiff("x", "/dev/null", splitLines("a\n"), nil, 3); !strings.HasSuffix(got, "@@ -1,1 +0,0 @@\n-a\n") {
		t.Errorf("diff to nothing =\n%s", got)
	}
}
