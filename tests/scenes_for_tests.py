"""Small two-person demo scenes shared by the build tests (72 frames: 27 windows; short: 58 frames, 13)."""

from amg_bench.data.demo_motion import Leg, PersonScript, SceneScript


def two_people_scene(scene_id: str) -> SceneScript:
    """Two people crossing a yard; one waves first. Every person stays in view."""
    return SceneScript(
        id=scene_id,
        num_frames=72,
        setting="a test yard",
        atmosphere="quiet",
        people=(
            PersonScript("person0", (-1.0, 1.0), (Leg(71, (1.0, 1.5)),), shirt="red", trousers="grey"),
            PersonScript(
                "person1",
                (1.0, 0.5),
                (Leg(30, (1.0, 0.5), "wave"), Leg(71, (-0.5, 1.0))),
                shirt="blue",
                trousers="black",
            ),
        ),
        phases=((0, "two people cross"), (36, "two people keep walking")),
    )


def short_scene(scene_id: str) -> SceneScript:
    """Two people crossing a yard in 58 frames (13 windows), both always in view."""
    return SceneScript(
        id=scene_id,
        num_frames=58,
        setting="a test yard",
        atmosphere="quiet",
        people=(
            PersonScript("person0", (-1.0, 1.0), (Leg(57, (1.0, 1.5)),), shirt="red", trousers="grey"),
            PersonScript("person1", (1.0, 0.5), (Leg(57, (-0.5, 1.0)),), shirt="blue", trousers="black"),
        ),
        phases=((0, "two people cross"),),
    )
