# SliceVLM on a CUDA GPU machine: the package with the gpu extra (DeepSpeed, bitsandbytes), the
# serve and shards extras, pinned by constraints-gpu.txt, plus WordNet and Java for the metrics.
#
#   docker build -t slicevlm-gpu .
#   docker run --gpus all --shm-size 16g -v /data/M3D:/data/M3D -v $HOME/.cache/huggingface:/root/.cache/huggingface \
#       -v $PWD/runs:/workspace/slicevlm/runs slicevlm-gpu \
#       lightning-cli fit --config configs/stage1.yaml --config configs/single_gpu/stage1.yaml --data.data_root /data/M3D
#
# The CUDA major version of the base image should match the one torch's wheels were built for
# (`python -c "import torch; print(torch.version.cuda)"`: 13.0 for the pinned torch); the devel
# image brings nvcc for the kernels DeepSpeed compiles on first use. The host needs an NVIDIA driver
# that supports it and the NVIDIA container toolkit.
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04
FROM ${CUDA_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PYTHONUTF8=1 \
    PIP_NO_CACHE_DIR=1 \
    TOKENIZERS_PARALLELISM=false \
    NLTK_DATA=/workspace/slicevlm/.cache/nltk_data \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev git default-jre-headless wordnet-base wordnet-sense-index \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /workspace/slicevlm

# Dependencies first (cached while only the code changes): the project metadata and the pins.
COPY pyproject.toml README.md constraints-gpu.txt ./
COPY src/slicevlm/__init__.py src/slicevlm/__init__.py
RUN python3 -m venv "$VIRTUAL_ENV" \
    && pip install --upgrade pip \
    && pip install -c constraints-gpu.txt '.[gpu,serve,shards]' \
    && pip uninstall -y slicevlm

COPY . .
RUN pip install -c constraints-gpu.txt --no-deps -e . \
    && bash scripts/install_wordnet.sh

CMD ["slicevlm", "--help"]
