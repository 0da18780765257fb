package configload_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/garo-dev/garo/shared/configload"
)

// A variable with the prefix that names no key is reported, with the nearest key's
// variable when one is near; known, empty, ignored and the strict switch itself are not.
func TestUnknownEnv(t *testing.T) {
	t.Parallel()
	o := configload.Options{EnvPrefix: "TEST", IgnoreEnv: []string{"TEST_CONFIG", "TEST_OTHER_"}}
	environ := []string{
		"TEST_NAME=x", "TEST_SUB_WAIT=5s", // keys
		"TEST_SUB_WIAT=5s",                              // misspelt
		"TEST_SUBCOUNT=3",                               // misspelt: the dot's underscore is missing
		"TEST_ENTIRELY_UNRELATED=1",                     // nothing near
		"TEST_SUB_ON=",                                  // empty counts as unset
		"TEST_CONFIG=/etc/x.yaml", "TEST_OTHER_THING=1", // ignored
		"TEST_STRICT_ENV=1",          // the switch
		"TESTING=1", "PATH=/usr/bin", // no prefix
	}
	got := fmt.Sprint(configload.UnknownEnv(&conf{}, o, environ))
	want := "[TEST_ENTIRELY_UNRELATED: names no configuration key " +
		"TEST_SUBCOUNT: names no configuration key (did you mean TEST_SUB_COUNT?) " +
		"TEST_SUB_WIAT: names no configuration key (did you mean TEST_SUB_WAIT?)]"
	if got != want {
		t.Errorf("UnknownEnv =\n%s\nwant\n%s", got, want)
	}
}

// With <prefix>_STRICT_ENV=1 an unknown variable is an error of Load, as an unknown key
// of the file is; without it Load passes and the binary warns.
func TestStrictEnv(t *testing.T) {
	t.Setenv("TESTSTRICT_SUB_CUONT", "3")
	c := defaults()
	if err := configload.Load(&c, configload.Options{EnvPrefix: "TESTSTRICT"}); err != nil {
		t.Fatalf("without the switch: %v", err)
	}
	for _, on := range []string{"1", "true", "TRUE"} {
		t.Setenv("TESTSTRICT_STRICT_ENV", on)
		err := configload.Load(&c, configload.Options{EnvPrefix: "TESTSTRICT"})
		if err == nil || !strings.Contains(err.Error(), "TESTSTRICT_SUB_CUONT: names no configuration key (did you mean TESTSTRICT_SUB_COUNT?) (TESTSTRICT_STRICT_ENV is set)") {
			t.Errorf("TESTSTRICT_STRICT_ENV=%s: %v, want the unknown variable refused", on, err)
		}
	}
	t.Setenv("TESTSTRICT_STRICT_ENV", "0")
	if err := configload.Load(&c, configload.Options{EnvPrefix: "TESTSTRICT"}); err != nil {
		t.Errorf("TESTSTRICT_STRICT_ENV=0: %v", err)
	}
}
