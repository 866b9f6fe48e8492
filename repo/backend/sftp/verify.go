package sftp

// VerifiesUploads says a successful Save stored what was sent: SSH's MAC
// covers every byte on the way, and the rename happens only after the
// whole file was written (and fsynced where the server can).
func (s *SFTP) VerifiesUploads() bool { return true }
