// Package all registers every source kind and preset snap ships: import it
// for its side effects. A new kind's package is added here, and nowhere
// else.
package all

import (
	_ "snap/sources/command"
	_ "snap/sources/files"
	_ "snap/sources/n8n"
	_ "snap/sources/postgres"
	_ "snap/sources/redis"
	_ "snap/sources/sqlite"
	_ "snap/sources/volume"
)
