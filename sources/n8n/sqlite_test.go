package n8n

import "testing"

func TestSQLiteSettings(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		uses bool
		file string
	}{
		{map[string]string{}, true, "/home/node/.n8n/database.sqlite"},
		{map[string]string{"DB_TYPE": "sqlite", "DB_SQLITE_DATABASE": "n8n.db"}, true, "/home/node/.n8n/n8n.db"},
		{map[string]string{"DB_TYPE": "SQLiteDB", "N8N_USER_FOLDER": "/data"}, true, "/data/.n8n/database.sqlite"},
		{map[string]string{"DB_SQLITE_DATABASE": "/srv/n8n/x.sqlite"}, true, "/srv/n8n/x.sqlite"},
		{map[string]string{"DB_TYPE": "postgresdb"}, false, "/home/node/.n8n/database.sqlite"},
		{map[string]string{"DB_TYPE_FILE": "/run/secrets/dbtype"}, false, "/home/node/.n8n/database.sqlite"},
	} {
		if got := usesSQLite(c.env); got != c.uses {
			t.Errorf("usesSQLite(%v) = %v", c.env, got)
		}
		if got := sqliteFile(c.env); got != c.file {
			t.Errorf("sqliteFile(%v) = %s, want %s", c.env, got, c.file)
		}
	}
}
