# Build both images:  docker buildx bake -f docker/docker-bake.hcl
# Release:            VERSION=1.0.0 docker buildx bake -f docker/docker-bake.hcl --push
# Tags are :cpu, :gpu, :X.Y.Z-cpu and :X.Y.Z-gpu; there is deliberately no
# floating default tag, so nobody pulls the wrong variant by accident.

variable "VERSION" {
  default = "0.0.0-dev"
}

variable "REPO" {
  default = "djok/facecraft"
}

variable "VCS_REF" {
  default = "unknown"
}

# RFC 3339, for org.opencontainers.image.created; pass the commit time for a
# reproducible label: BUILD_DATE=$(git log -1 --format=%cI). Unset: now.
variable "BUILD_DATE" {
  default = ""
}

# A team's model mirror (README, "CI farm"); empty: the origins only. The
# registry's credentials go in as a secret: --set '*.secrets=id=docker_config,src=PATH'.
variable "MODELFETCH_MIRRORS" {
  default = ""
}

variable "APP_CONTEXT" {
  default = "../facecraft"
}

group "default" {
  targets = ["cpu", "gpu"]
}

target "_common" {
  context = "."
  contexts = {
    app = APP_CONTEXT
  }
  target = "production"
  args = {
    VERSION    = VERSION
    VCS_REF    = VCS_REF
    BUILD_DATE = BUILD_DATE != "" ? BUILD_DATE : timestamp()
    MODELFETCH_MIRRORS = MODELFETCH_MIRRORS
  }
  labels = {
    "org.opencontainers.image.version"  = VERSION
    "org.opencontainers.image.revision" = VCS_REF
    "org.opencontainers.image.source"   = "https://github.com/djok/facecraft"
  }
}

target "cpu" {
  inherits   = ["_common"]
  dockerfile = "Dockerfile.cpu"
  tags       = ["${REPO}:cpu", "${REPO}:${VERSION}-cpu"]
  platforms  = ["linux/amd64"]
}

target "gpu" {
  inherits   = ["_common"]
  dockerfile = "Dockerfile.gpu"
  tags       = ["${REPO}:gpu", "${REPO}:${VERSION}-gpu"]
  platforms  = ["linux/amd64"]
}
