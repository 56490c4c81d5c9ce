# The alert bridge: Alertmanager's webhook receiver (alert-bridge serve, port 9095).
#
#   docker build -t dgx-spark-alert-bridge .
#   docker run --rm -p 9095:9095 dgx-spark-alert-bridge        # see docker-compose.yml
#
# Two stages: the build stage installs the package and its dependencies into a virtual
# environment; the runtime stage copies only that environment, the Alembic migrations and
# nothing else (no compiler, no pip cache, no source tree). Base image pinned to a patch
# release; bump it deliberately. It is multi-arch, so the image also builds on the DGX
# Spark's own arm64 CPUs.

FROM python:3.11.13-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# README.md is the package's long description (pyproject.toml `readme`).
COPY pyproject.toml README.md ./
COPY bridge ./bridge
RUN pip install --no-cache-dir .


FROM python:3.11.13-slim-bookworm

# BRIDGE_MIGRATIONS_DIR: the package is installed into site-packages, so it cannot find
# migrations/ beside itself as it does in a source checkout.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BRIDGE_MIGRATIONS_DIR=/opt/alert-bridge/migrations \
    BRIDGE_STATE_DIR=/var/lib/alert-bridge \
    BRIDGE_LISTEN=0.0.0.0:9095

# A fixed uid/gid so file ownership on volumes and secret files is predictable
# (secrets/README.md).
RUN groupadd --system --gid 10001 bridge \
    && useradd --system --uid 10001 --gid bridge --no-create-home \
       --home-dir /var/lib/alert-bridge --shell /usr/sbin/nologin bridge \
    && mkdir -p /var/lib/alert-bridge \
    && chown bridge:bridge /var/lib/alert-bridge

COPY --from=build /opt/venv /opt/venv
COPY alembic.ini /opt/alert-bridge/alembic.ini
COPY migrations /opt/alert-bridge/migrations

WORKDIR /var/lib/alert-bridge
# Numeric, so runtimes that enforce non-root (runAsNonRoot) can verify it.
USER 10001:10001

EXPOSE 9095

# No curl in the slim image; the interpreter is already here.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9095/readyz', timeout=3)"]

ENTRYPOINT ["alert-bridge"]
CMD ["serve"]
