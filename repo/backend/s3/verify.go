package s3

// VerifiesUploads says a successful PUT stored what was sent: the body
// travels under TLS, or with SigV4 streaming signatures over plain HTTP,
// and the server answers success only for a whole, matching body.
func (s *S3) VerifiesUploads() bool { return true }
