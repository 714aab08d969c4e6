"""Query strategies: which pool rows the oracle should label next."""

from skactive.strategies.badge import BADGE
from skactive.strategies.bald import BALD
from skactive.strategies.bald_vae_twins import BALDWithVAETwins
from skactive.strategies.batchbald import BatchBALD
from skactive.strategies.bgadl import BGADL
from skactive.strategies.ceal import CEAL
from skactive.strategies.cold_start import ProbCover, TypiClust
from skactive.strategies.coreset import CoreSet, FarthestFirst
from skactive.strategies.dfal import DFAL
from skactive.strategies.discriminative import DiscriminativeAL
from skactive.strategies.diversified import Diversified
from skactive.strategies.dre import DRE
from skactive.strategies.egl import EGL
from skactive.strategies.emoc import EMOC
from skactive.strategies.learning_loss import LearningLoss
from skactive.strategies.query_by_committee import QueryByCommittee
from skactive.strategies.random import RandomSampling
from skactive.strategies.schedule import Schedule
from skactive.strategies.seals import SEALS
from skactive.strategies.shifted_twins import ShiftedTwins
from skactive.strategies.suggestive_annotation import SuggestiveAnnotation
from skactive.strategies.uncertainty import EntropySampling, LeastConfidence, MarginSampling
from skactive.strategies.vaal import VAAL

__all__ = [
    "BADGE",
    "BALD",
    "BGADL",
    "CEAL",
    "DFAL",
    "DRE",
    "EGL",
    "EMOC",
    "SEALS",
    "VAAL",
    "BALDWithVAETwins",
    "BatchBALD",
    "CoreSet",
    "DiscriminativeAL",
    "Diversified",
    "EntropySampling",
    "FarthestFirst",
    "LearningLoss",
    "LeastConfidence",
    "MarginSampling",
    "ProbCover",
    "QueryByCommittee",
    "RandomSampling",
    "Schedule",
    "ShiftedTwins",
    "SuggestiveAnnotation",
    "TypiClust",
]
