"""The catalogue: every model, verifier, judge and suite by name, with their defaults.

It sits above the core (``processes/``, ``verifiers/``, ``judges/``) and the embedded worlds
(``worlds/``), which know nothing of it. Names take an argument after a colon
(``sd:DIR``, ``clip:CHECKPOINT``); a verifier with options takes them after the argument as
``;key=value`` pairs (``vqascore:DIR;output=prob``), kept in the spec string so config.json
records them and ``ensemble:`` members carry their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import InputError, unknown
from .lazy import lazy_callable
from .suite import Suite
from .verifiers import PICKSCORE_CHECKPOINT
from .worlds import digits, shapes
from .worlds.digits.suite import DIGITS_SUITE
from .worlds.shapes.suite import shapes_suite

if TYPE_CHECKING:
    from .judges import Judge, SetJudge
    from .processes import DenoisingProcess
    from .verifiers import Verifier


def _part(target: str) -> Callable[..., Any]:
    return lazy_callable(target, __package__)


# the constructors, imported when first called: naming the parts (``list``, the checks of a
# command line) loads no model library
dit_process = _part(".processes.ddim_pipelines:dit_process")
sd_process = _part(".processes.ddim_pipelines:sd_process")
sdxl_process = _part(".processes.ddim_pipelines:sdxl_process")
flux_process = _part(".processes.flow_pipelines:flux_process")
sd3_process = _part(".processes.flow_pipelines:sd3_process")
gmm_process = _part(".processes.gmm:gmm_process")
flow_gmm_process = _part(".processes.gmm:flow_gmm_process")
digits_process = _part(".worlds.digits.process:digits_process")
shapes_process = _part(".worlds.shapes.process:shapes_process")

Brightness = _part(".verifiers.image_stats:Brightness")
Compressibility = _part(".verifiers.image_stats:Compressibility")
CLIPScore = _part(".verifiers.clip:CLIPScore")
PickScore = _part(".verifiers.pickscore:PickScore")
ImageClassifier = _part(".verifiers.classifier:ImageClassifier")
parse_ensemble = _part(".verifiers.ensemble:Ensemble.parse")
ImageRewardScore = _part(".verifiers.optional:ImageRewardScore")
HPSScore = _part(".verifiers.optional:HPSScore")
SelfSupervised = _part(".verifiers.self_supervised:SelfSupervised")
VQAScore = _part(".verifiers.vqascore:VQAScore")
LLMGrader = _part(".verifiers.llm_grader:LLMGrader.parse")
DigitsClassifier = _part(".worlds.digits.verifier:DigitsClassifier")
shapes_clip = _part(".worlds.shapes.verifier:shapes_clip")
ShapesVQA = _part(".worlds.shapes.verifier:ShapesVQA")

DigitsEvaluator = _part(".worlds.digits.judges:DigitsEvaluator")
DigitsFrechet = _part(".worlds.digits.judges:DigitsFrechet")
ShapesOracle = _part(".worlds.shapes.oracle:ShapesOracle")
ShapesFrechet = _part(".worlds.shapes.frechet:ShapesFrechet")

# ---------------------------------------------------------------------------------------------- models

PIPELINE_OPTIONS = {"steps": "the pipeline's", "sampler": "ode (ode|sde)", "guidance": "the pipeline's",
                    "height": "the pipeline's", "width": "the pipeline's", "dtype": "fp32 (fp32|fp16|bf16)",
                    "offload": False}


def pipeline_entry(factory, pipeline: str, summary: str, verifier: str, **options: Any) -> dict[str, Any]:
    return {"factory": factory, "argument": f"a hub id or a folder of a {pipeline}", "verifier": verifier,
            "summary": summary, "options": {**PIPELINE_OPTIONS, **options}}


CLIP_L = "clip:openai/clip-vit-large-patch14"


MODELS: dict[str, dict[str, Any]] = {
    "shapes": {
        "factory": shapes_process,
        "summary": "embedded text-to-image 32x32 shapes (diffusers UNet2DConditionModel + CLIPTextModel); "
                   "prompts like 'a red circle above a blue square'",
        "options": {"steps": shapes.DEFAULT_STEPS, "sampler": f"{shapes.DEFAULT_SAMPLER} (ode|sde)",
                    "guidance": shapes.DEFAULT_GUIDANCE, "dtype": "fp32 (fp32|fp16|bf16)"},
        "verifier": "shapes-clip",
    },
    "digits": {
        "factory": digits_process,
        "summary": "embedded class-conditional 16x16 digits (diffusers UNet2DModel); conditions 0-9",
        "options": {"steps": digits.DEFAULT_STEPS, "sampler": "sde (ode|sde)",
                    "guidance": digits.DEFAULT_GUIDANCE, "dtype": "fp32 (fp32|fp16|bf16)"},
        "verifier": "digits-classifier",
    },
    "flow-gmm": {
        "factory": flow_gmm_process,
        "summary": "the same mixture on the rectified-flow path with its exact velocity (flow-matching "
                   "sampler); conditions as gmm",
        "options": {"dim": 2, "components": 3, "mixture_seed": 0, "steps": 50, "sampler": "sde (ode|sde)"},
        "verifier": "brightness",
    },
    "sd": pipeline_entry(sd_process, "StableDiffusionPipeline",
                         "Stable Diffusion 1.x/2.x (diffusers, DDIM on latents): sd:<hub id or folder>",
                         CLIP_L),
    "sdxl": pipeline_entry(sdxl_process, "StableDiffusionXLPipeline",
                           "SDXL (diffusers, DDIM on latents): sdxl:<hub id or folder>", CLIP_L),
    "dit": {"factory": dit_process, "argument": "a hub id or a folder of a DiTPipeline",
            "summary": "DiT, class-conditional (diffusers, DDIM on latents): dit:<hub id or folder>; "
                       "conditions: ImageNet class index or label",
            "options": {k: v for k, v in PIPELINE_OPTIONS.items() if k not in ("height", "width")},
            "verifier": "classifier:google/vit-base-patch16-224"},
    "sd3": pipeline_entry(sd3_process, "StableDiffusion3Pipeline",
                          "Stable Diffusion 3 (diffusers, flow matching): sd3:<hub id or folder>", CLIP_L,
                          max_sequence_length="the pipeline's"),
    "flux": pipeline_entry(flux_process, "FluxPipeline",
                           "FLUX (diffusers, flow matching, packed latents): flux:<hub id or folder>", CLIP_L,
                           max_sequence_length="the pipeline's"),
    "gmm": {
        "factory": gmm_process,
        "summary": "analytic Gaussian mixture with exact score; conditions: component index or 'any'",
        "options": {"dim": 2, "components": 3, "mixture_seed": 0, "steps": 50, "sampler": "sde (ode|sde)"},
        "verifier": "brightness",
    },
}


def model_entry(spec: str) -> tuple[str, str | None, dict[str, Any]]:
    """(name, argument, registry entry) of ``name`` or ``name:argument``; ``InputError`` if unknown."""
    name, _, argument = str(spec).partition(":")
    if name not in MODELS:
        raise unknown("model", spec, MODELS)
    entry = MODELS[name]
    if "argument" in entry and not argument:
        raise InputError(f"model {name!r} needs {entry['argument']}: `model={name}:<{entry['argument']}>`")
    if "argument" not in entry and argument:
        raise InputError(f"model {name!r} takes no argument, got {spec!r}")
    return name, argument or None, entry


def load_process(spec: str, compile: bool = False, **options: Any) -> DenoisingProcess:
    """A process by name (``digits``) or name and argument (``sd:DIR``); ``options`` go to its
    constructor (None values are dropped); ``compile``: its network wrapped in ``torch.compile``."""
    name, argument, entry = model_entry(spec)
    options = {k: v for k, v in options.items() if v is not None}
    valid = set(entry["options"]) | {"micro_batch", "device"}
    bad = sorted(set(options) - valid)
    if bad:
        raise InputError(f"model {name!r} has no option {bad[0]!r}; valid: {', '.join(sorted(valid))}")
    process = entry["factory"](argument, **options) if argument else entry["factory"](**options)
    if compile:
        process.denoiser.compile()
    return process


# ------------------------------------------------------------------------------------------- verifiers

def aesthetic_score(folder: str | None = None, device: str = "cpu") -> Verifier:
    from .verifiers.aesthetic import LAYOUT, AestheticScore

    return AestheticScore(folder or _missing("aesthetic", f"aesthetic:FOLDER with {LAYOUT}"), device=device)


VQASCORE_OPTIONS = {
    "question": "'Does this figure show \"{prompt}\"? Please answer yes or no.'",
    "output": "logprob (logprob|prob)", "micro_batch": 8, "dtype": "the model's (fp32|fp16|bf16)",
}
LLM_GRADER_OPTIONS = {
    "aspect": "overall (overall|accuracy|originality|visual_quality|consistency|emotional_resonance)",
    "key_env": "OPENAI_API_KEY", "cache": "$NOISESEARCH_CACHE/llm-grader or ~/.cache/noisesearch/llm-grader "
                                          "(off: none)",
    "workers": 8, "timeout": 60, "retries": 4, "max_tokens": 1024, "temperature": 0,
}


VERIFIERS: dict[str, dict[str, Any]] = {
    "digits-classifier": {
        "factory": lambda arg=None, device="cpu": DigitsClassifier(output=arg or "logprob"),
        "summary": "log p(target class) from a CNN trained on half the digits; "
                   "'digits-classifier:prob' for the probability",
        "differentiable": True,
    },
    "clip": {
        "factory": lambda arg=None, device="cpu": CLIPScore(
            arg or _missing("clip", "clip:CHECKPOINT (hub id or folder)"), device=device),
        "summary": "CLIPScore 2.5 * max(cos, 0) with any transformers CLIP checkpoint: 'clip:CHECKPOINT'",
        "differentiable": True,
    },
    "shapes-clip": {
        "factory": lambda arg=None, device="cpu": shapes_clip(device=device),
        "summary": "CLIPScore with the embedded small CLIP trained on shapes scenes with hard negatives",
        "differentiable": True,
    },
    "shapes-vqa": {
        "factory": lambda arg=None, device="cpu": ShapesVQA(device=device),
        "summary": "log P(the image shows the prompt) from the embedded question-answering CNN "
                   "(FiLM by a GRU reading of the prompt), trained apart from shapes-clip",
        "differentiable": True,
    },
    "brightness": {"factory": lambda arg=None, device="cpu": Brightness(), "summary": "mean pixel value",
                   "differentiable": True},
    "compressibility": {
        "factory": lambda arg=None, device="cpu": Compressibility(int(arg) if arg else 95),
        "summary": "negative JPEG size in kB (Ramesh & Mardani 2025); 'compressibility:QUALITY', default 95",
        "differentiable": False,
    },
    "pickscore": {
        "factory": lambda arg=None, device="cpu": PickScore(arg or PICKSCORE_CHECKPOINT, device=device),
        "summary": "PickScore (Kirstain et al. 2023) exp(logit_scale) * cos of a preference-tuned CLIP; "
                   f"'pickscore:CHECKPOINT', default {PICKSCORE_CHECKPOINT}",
        "differentiable": True,
    },
    "aesthetic": {
        "factory": aesthetic_score,
        "summary": "LAION aesthetic predictor v2: an MLP on the unit CLIP image embedding, prompt ignored; "
                   "'aesthetic:FOLDER' (FOLDER/clip/, FOLDER/mlp.safetensors)",
        "differentiable": True,
    },
    "classifier": {
        "factory": lambda arg=None, device="cpu": ImageClassifier(
            arg or _missing("classifier", "classifier:CHECKPOINT (hub id or folder of a transformers "
                                          "image classifier)"), device=device),
        "summary": "log p(target class) from any transformers image classifier; 'classifier:CHECKPOINT', "
                   "conditions are class indices or labels",
        "differentiable": True,
    },
    "ensemble": {
        "factory": lambda arg=None, device="cpu": parse_ensemble(
            arg or _missing("ensemble", "ensemble:v1+v2 (mean rank) or ensemble:w1*v1+w2*v2 (weighted sum)"),
            load_verifier, device=device),
        "summary": "'ensemble:v1+v2' mean rank among a condition's images scored together (Ma et al. 2025); "
                   "'ensemble:0.7*v1+0.3*v2' weighted sum, differentiable when its members are",
        "differentiable": False,
    },
    "vqascore": {
        "factory": lambda arg=None, device="cpu", **options: VQAScore(
            arg or _missing("vqascore", "vqascore:DIR (a folder of an image-text-to-text model)"),
            device=device, **options),
        "summary": "VQAScore (Lin et al. 2024): log P('Yes') of any local vision-language model "
                   "(transformers image-text-to-text: Qwen2-VL, Idefics3/SmolVLM, LLaVA, ...) asked whether "
                   "the image shows the prompt; 'vqascore:DIR;output=prob;question=...'",
        "differentiable": False,
        "options": VQASCORE_OPTIONS,
    },
    "llm-grader": {
        "factory": lambda arg=None, device="cpu", **options: LLMGrader(
            arg or _missing("llm-grader", "llm-grader:MODEL@BASE_URL (an OpenAI-compatible endpoint)"),
            **options),
        "summary": "a multimodal LLM grading each image on Ma et al. 2025's rubric (0-10 per aspect, JSON) "
                   "over any OpenAI-compatible endpoint (vLLM, Ollama, SGLang, OpenAI, Gemini): "
                   "'llm-grader:MODEL@BASE_URL;aspect=accuracy'; key from $OPENAI_API_KEY; needs "
                   "`pip install openai`",
        "differentiable": False,
        "options": LLM_GRADER_OPTIONS,
    },
    "imagereward": {
        "factory": lambda arg=None, device="cpu": ImageRewardScore(arg or "ImageReward-v1.0", device=device),
        "summary": "ImageReward (Xu et al. 2023) preference score; needs `pip install image-reward`",
        "differentiable": False,
    },
    "hps": {
        "factory": lambda arg=None, device="cpu": HPSScore(arg or "v2.1"),
        "summary": "HPS v2.1 (Wu et al. 2023) preference score; needs `pip install hpsv2`; 'hps:v2.0' for v2",
        "differentiable": False,
    },
    "self-supervised": {
        "factory": lambda arg=None, device="cpu": SelfSupervised(
            arg or _missing("self-supervised", "self-supervised:CHECKPOINT (a CLIP hub id or folder)"),
            device=device),
        "summary": "cosine of CLIP features of the sample and of the model's x0_hat from it re-noised to "
                   "level 0.4 (Ma et al. 2025; SiT interpolant time t, VP level 0.555); "
                   "'self-supervised:CHECKPOINT'",
        "differentiable": False,
    },
}


def verifier_options(name: str, arg: str) -> tuple[str, dict[str, str]]:
    """(argument, options) of a verifier's ``ARG;key=value;...``; ``InputError`` naming the valid
    options for an unknown or malformed one."""
    arg, *pairs = arg.split(";")
    valid = VERIFIERS[name]["options"]
    options = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or key not in valid:
            raise InputError(f"verifier {name!r} has no option {pair!r}; valid: "
                             + ", ".join(f"{k}=" for k in valid))
        options[key] = value
    return arg, options


def _missing(name: str, usage: str):
    raise InputError(f"verifier {name!r} needs an argument: {usage}")


def load_verifier(spec: str | Callable | Verifier, device: str = "cpu") -> Verifier:
    """A verifier from a name (``digits-classifier``, ``compressibility:80``), a callable or itself.

    ``device`` places the verifiers that run a large network (CLIP, classifiers); the others run on
    the CPU. ``ensemble:`` members are loaded by this function too."""
    if not isinstance(spec, str):
        from .verifiers import CallableVerifier, Verifier

        if isinstance(spec, Verifier):
            return spec
        if callable(spec):
            return CallableVerifier(spec)
    name, _, arg = str(spec).partition(":")
    if name not in VERIFIERS:
        raise unknown("verifier", spec, VERIFIERS)
    if "options" not in VERIFIERS[name]:
        return VERIFIERS[name]["factory"](arg or None, device=device)
    arg, options = verifier_options(name, arg)
    return VERIFIERS[name]["factory"](arg or None, device=device, **options)


def bind(verifier: Verifier, process: Any) -> Verifier:
    """Give ``process`` to a verifier that scores with it (``self-supervised``, also inside ensembles)."""
    if hasattr(verifier, "bind"):
        verifier.bind(process)
    for member in getattr(verifier, "members", []):
        bind(member, process)
    return verifier


# ---------------------------------------------------------------------------------------------- judges

JUDGES: dict[str, dict[str, Any]] = {
    "digits-evaluator": {
        "factory": DigitsEvaluator,
        "summary": "held-out digits CNN: target-class probability and accuracy",
    },
    "shapes-oracle": {
        "factory": ShapesOracle,
        "summary": "program that parses a shapes image (palette segmentation, components, shape templates) "
                   "and checks its prompt, GenEval-style: accuracy per sample",
    },
    "shapes-fd": {
        "factory": ShapesFrechet,
        "summary": "Frechet distance of the set of winners to drawn scenes of their prompts in a held-out "
                   "scene encoder's features (fidelity and diversity; lower is better)",
    },
    "digits-fd": {
        "factory": DigitsFrechet,
        "summary": "Frechet distance of the set of winners to real digits in the judge CNN's features "
                   "(fidelity and diversity; lower is better)",
    },
}

DEFAULT_JUDGES = {"digits": ["digits-evaluator"], "gmm": [], "flow-gmm": [], "shapes": ["shapes-oracle"]}


def load_judge(name: str) -> Judge | SetJudge:
    """A judge by name: per-sample (``Judge``) or of the whole set of winners (``SetJudge``)."""
    if name not in JUDGES:
        raise unknown("judge", name, JUDGES)
    return JUDGES[name]["factory"]()


# ---------------------------------------------------------------------------------------------- suites

SUITES: dict[str, Suite] = {
    "digits": DIGITS_SUITE,
    "shapes": shapes_suite("test"),
    "shapes-dev": shapes_suite("dev"),
    "gmm": Suite(
        name="gmm", model="gmm",
        process={"dim": 2, "components": 3, "steps": 25, "sampler": "sde"},
        conditions=["any"] * 30,
        verifier="brightness",
        judges=[],
        summary="30 unconditional draws of the 2-D, 3-component mixture, sde sampler, 25 steps",
    ),
}


def load_suite(name: str) -> Suite:
    """A benchmark suite by name."""
    if name not in SUITES:
        raise unknown("suite", name, SUITES)
    return SUITES[name]
