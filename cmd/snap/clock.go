package main

import "time"

// now is the command line's clock; tests replace it.
var now = time.Now
