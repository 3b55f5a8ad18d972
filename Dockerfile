# syntax=docker/dockerfile:1
# inventory-sync image: `make image` builds it where a Docker engine runs.
# The install steps below are the ones tests/chart/test_image_steps.py replays
# into a fresh venv, so they stay true without an engine.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/inventory-sync
# 1. the pinned, hashed runtime dependencies (no dev tools)
COPY requirements/runtime.lock requirements/runtime.lock
RUN /opt/inventory-sync/bin/pip install --require-hashes -r requirements/runtime.lock
# 2. the package itself, built into a wheel, installed without resolving anything else
COPY pyproject.toml README.md ./
COPY graphql ./graphql
COPY src ./src
RUN /opt/inventory-sync/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/inventory-sync/bin/pip install --no-deps /wheels/*.whl

FROM python:${PYTHON_VERSION}-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="inventory-sync" \
      org.opencontainers.image.description="Keeps commercetools inventory equal to Fluent aggregate stock" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /opt/inventory-sync /opt/inventory-sync
ENV PATH=/opt/inventory-sync/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    INVENTORY_SYNC_PROFILES_FILE=/etc/inventory-sync/profiles.yaml \
    INVENTORY_SYNC_STATE_DIR=/tmp/inventory-sync-state
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["inventory-sync"]
CMD ["run"]
