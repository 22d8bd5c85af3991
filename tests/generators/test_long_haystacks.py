import json
import subprocess
import sys
from pathlib import Path

CONFIGS = Path(__file__).parent.parent.parent / "configs"

# Renders 32 frames of the one-hour sample of configs/vniah.yaml in a fresh process and reports
# its peak memory and the work done.
SCRIPT = """
import json, resource, sys


def peak_kib():
    # this process's own high-water mark: ru_maxrss would also count the forked test runner
    # before exec (Linux keeps the larger of the two)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


from mmhay.config import load_suite
from mmhay.generators import create_generator
from mmhay.sampling import uniform_times
generator = create_generator(load_suite(sys.argv[1]))
index = next(i for i in range(len(generator)) if generator.sample(i).facets["length"] == 3600)
sample = generator.sample(index)
rendered = sample.media.render(uniform_times(sample.media.duration, 32))
print(json.dumps({
    "seconds": float(sample.media.duration),
    "frames": len(rendered.pixels),
    "generated": rendered.stats.generated,
    "decoded": rendered.stats.decoded,
    "segments": len(sample.media.segments),
    "peak_kib": peak_kib(),
}))
"""


def test_an_hour_long_haystack_renders_32_frames_in_little_memory():
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(CONFIGS / "vniah.yaml")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["seconds"] >= 3600 and report["segments"] > 50, "an hour of concatenated shots"
    assert report["frames"] == 32
    assert report["generated"] <= 32, "only the frames asked for are computed, whatever the length"
    assert report["peak_kib"] < 1024 * 1024, f"peak memory {report['peak_kib'] / 1024:.0f} MiB"
