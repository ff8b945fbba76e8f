package mirror

// DockerCredentialsWithin is DockerCredentials with another helper deadline,
// for tests that cannot wait 20 s.
var DockerCredentialsWithin = dockerCredentials
