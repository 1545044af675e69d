package main

import "testing"

func TestSimSplice(t *testing.T) {
	doc := "intro\n" + beginMark + "\nold table\n" + endMark + "\nrest\n"
	got, err := splice(doc, "new\n")
	if want := "intro\n" + beginMark + "\n\nnew\n\n" + endMark + "\nrest\n"; err != nil || got != want {
		t.Fatalf("splice = %q, %v; want %q", got, err, want)
	}
	if again, _ := splice(got, "new\n"); again != got {
		t.Fatalf("splicing the same block again changed the text: %q", again)
	}
	if _, err := splice("no markers\n", "x"); err == nil {
		t.Fatal("no error without markers")
	}
}
