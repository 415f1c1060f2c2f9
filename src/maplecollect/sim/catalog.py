"""Static KMS vocabulary the simulated world is drawn from: worlds, jobs, equipment slots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# The Open API has data from this day on; earlier dates answer OPENAPI00004.
EARLIEST_DATE = date(2023, 12, 21)

NORMAL_WORLDS: tuple[str, ...] = (
    "스카니아",
    "베라",
    "루나",
    "제니스",
    "크로아",
    "유니온",
    "엘리시움",
    "이노시스",
    "레드",
    "오로라",
    "아케인",
    "노바",
)
REBOOT_WORLDS: tuple[str, ...] = ("에오스", "핼리오스")
ALL_WORLDS: tuple[str, ...] = NORMAL_WORLDS + REBOOT_WORLDS

# Relative population; the reboot worlds and the old big worlds are the busiest.
WORLD_WEIGHTS: dict[str, float] = {
    "스카니아": 3.0,
    "베라": 2.0,
    "루나": 3.0,
    "제니스": 1.5,
    "크로아": 2.0,
    "유니온": 1.5,
    "엘리시움": 2.0,
    "이노시스": 1.0,
    "레드": 1.0,
    "오로라": 1.0,
    "아케인": 1.0,
    "노바": 1.0,
    "에오스": 3.0,
    "핼리오스": 3.0,
}


def world_type_of(world_name: str) -> int:
    """0 for a normal world, 1 for a reboot world (the ranking's `world_type`)."""
    return 1 if world_name in REBOOT_WORLDS else 0


@dataclass(frozen=True, slots=True)
class Job:
    """One job: `character_class` in basic/equipment, `class_name`/`sub_class_name` in ranking."""

    character_class: str
    class_name: str
    sub_class_name: str


def _explorers(group: str, jobs: tuple[str, ...]) -> list[Job]:
    return [Job(job, group, job) for job in jobs]


def _singles(jobs: tuple[str, ...]) -> list[Job]:
    # Jobs without an advancement family show as class_name=<job>, sub_class_name="".
    return [Job(job, job, "") for job in jobs]


JOBS: tuple[Job, ...] = tuple(
    _explorers("전사", ("히어로", "팔라딘", "다크나이트"))
    + _explorers("마법사", ("아크메이지(불,독)", "아크메이지(썬,콜)", "비숍"))
    + _explorers("궁수", ("보우마스터", "신궁", "패스파인더"))
    + _explorers("도적", ("나이트로드", "섀도어", "듀얼블레이더"))
    + _explorers("해적", ("바이퍼", "캡틴", "캐논마스터"))
    + _explorers(
        "기사단", ("소울마스터", "플레임위자드", "윈드브레이커", "나이트워커", "스트라이커")
    )
    + _singles(
        (
            "미하일",
            "아란",
            "에반",
            "루미너스",
            "메르세데스",
            "팬텀",
            "은월",
            "배틀메이지",
            "와일드헌터",
            "메카닉",
            "블래스터",
            "제논",
            "데몬슬레이어",
            "데몬어벤져",
            "카이저",
            "카인",
            "카데나",
            "엔젤릭버스터",
            "아델",
            "일리움",
            "칼리",
            "아크",
            "라라",
            "호영",
            "렌",
            "제로",
            "키네시스",
        )
    )
)
JOBS_BY_CLASS: dict[str, Job] = {job.character_class: job for job in JOBS}
ALL_CLASSES: tuple[str, ...] = tuple(job.character_class for job in JOBS)

# The ranking `class` filter: "<class_name>-전체 전직" or "<class_name>-<sub_class_name>".
ALL_ADVANCEMENTS = "전체 전직"

# Hangul syllables character names are built from (2-6 syllables, as in KMS).
NAME_SYLLABLES: tuple[str, ...] = tuple(
    "가나다라마바사아자차카타파하고노도로모보소오조초코토포호구누두루무부수우주추쿠투푸후"
    "그느드르므브스으즈츠크트프흐기니디리미비시이지치키티피히별빛달솔봄꽃눈비숲결해윤린"
    "현민준서연지우하은도진설향람율찬빈혁결온슬담귤몽냥쿵팡뽀짱꿀"
)
LATIN_NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

GUILD_NAMES: tuple[str, ...] = (
    "리더",
    "별빛",
    "메이플용사",
    "단풍잎",
    "새벽",
    "모험가들",
    "검은마법사",
    "아케인",
    "노을",
    "초코",
    "은하수",
    "바람",
    "꿀벌",
    "정상",
    "도원경",
    "레헬른",
    "세르니움",
    "아르크스",
    "오디움",
    "카르시온",
)


@dataclass(frozen=True, slots=True)
class Slot:
    """An equipment slot: `item_equipment_part`, `item_equipment_slot` and item names."""

    part: str
    slot: str
    names: tuple[str, ...]


MEDAL_NAMES: tuple[str, ...] = ("정복자의 훈장", "칠흑의 훈장", "영원한 모험가 훈장")
EQUIPMENT_SLOTS: tuple[Slot, ...] = (
    Slot("모자", "모자", ("아케인셰이드 나이트햇", "앱솔랩스 나이트헬름", "에테르넬 나이트헬름")),
    Slot("상의", "상의", ("이글아이 워리어아머", "트릭스터 워리어셔츠", "아케인셰이드 나이트슈트")),
    Slot("하의", "하의", ("트릭스터 워리어팬츠", "이글아이 워리어팬츠", "하이네스 워리어팬츠")),
    Slot("신발", "신발", ("아케인셰이드 나이트슈즈", "앱솔랩스 나이트슈즈", "에테르넬 나이트슈즈")),
    Slot(
        "장갑",
        "장갑",
        ("아케인셰이드 나이트글러브", "앱솔랩스 나이트글러브", "에테르넬 나이트글러브"),
    ),
    Slot(
        "망토",
        "망토",
        ("아케인셰이드 나이트케이프", "앱솔랩스 나이트케이프", "에테르넬 나이트케이프"),
    ),
    Slot(
        "어깨장식",
        "어깨장식",
        ("아케인셰이드 나이트숄더", "앱솔랩스 나이트숄더", "에테르넬 나이트숄더"),
    ),
    Slot(
        "얼굴장식", "얼굴장식", ("트와일라이트 마크", "응축된 힘의 결정석", "루즈 컨트롤 머신 마크")
    ),
    Slot("눈장식", "눈장식", ("블랙빈 마크", "파풀라투스 마크", "마력이 깃든 안대")),
    Slot("귀고리", "귀고리", ("에스텔라 이어링", "커맨더 포스 이어링", "데이브레이크 이어링")),
    Slot("반지", "반지1", ("리스트레인트 링", "이터널 플레임 링", "어웨이크 링")),
    Slot("반지", "반지2", ("마이스터링", "가디언 엔젤 링", "실버블라썸 링")),
    Slot("반지", "반지3", ("여명의 가디언 엔젤 링", "카오스 링", "결속의 반지")),
    Slot("반지", "반지4", ("웨펀퍼프 - D링", "리레스트 링", "크리티컬 링")),
    Slot("펜던트", "펜던트", ("도미네이터 펜던트", "데이브레이크 펜던트", "고통의 근원")),
    Slot("펜던트", "펜던트2", ("매커네이터 펜던트", "카오스 혼테일의 목걸이", "타일런트 펜던트")),
    Slot("벨트", "벨트", ("골든 클로버 벨트", "몽환의 벨트", "타일런트 벨트")),
    Slot("포켓 아이템", "포켓 아이템", ("핑크빛 성배", "저주받은 적의 마도서", "창세의 뱃지")),
    Slot("기계 심장", "기계 심장", ("블랙 하트", "페어리 하트", "티타늄 하트")),
    Slot("뱃지", "뱃지", ("창세의 뱃지", "크리스탈 웬투스 뱃지", "태극 마크 뱃지")),
    Slot("훈장", "훈장", MEDAL_NAMES),
    Slot("엠블렘", "엠블렘", ("골드 메이플리프 엠블렘", "실버 메이플리프 엠블렘", "미트라의 분노")),
    Slot(
        "무기", "무기", ("제네시스 투핸드소드", "아케인셰이드 투핸드소드", "앱솔랩스 브로드세이버")
    ),
    Slot("보조무기", "보조무기", ("프라우드 소울", "도미네이터 프레임", "라피스 엠블렘")),
)

DRAGON_SLOTS: tuple[Slot, ...] = (
    Slot("드래곤모자", "드래곤 모자", ("아케인셰이드 드래곤캡",)),
    Slot("드래곤펜던트", "드래곤 펜던트", ("아케인셰이드 드래곤펜던트",)),
    Slot("드래곤날개장식", "드래곤 날개장식", ("아케인셰이드 드래곤윙",)),
    Slot("드래곤꼬리장식", "드래곤 꼬리장식", ("아케인셰이드 드래곤테일",)),
)
MECHANIC_SLOTS: tuple[Slot, ...] = (
    Slot("메카닉엔진", "메카닉 엔진", ("아케인셰이드 메카닉엔진",)),
    Slot("메카닉암", "메카닉 암", ("아케인셰이드 메카닉암",)),
    Slot("메카닉레그", "메카닉 레그", ("아케인셰이드 메카닉레그",)),
    Slot("메카닉프레임", "메카닉 프레임", ("아케인셰이드 메카닉프레임",)),
    Slot("메카닉트랜지스터", "메카닉 트랜지스터", ("아케인셰이드 트랜지스터",)),
)

POTENTIAL_GRADES: tuple[str, ...] = ("레어", "에픽", "유니크", "레전드리")
POTENTIAL_LINES: tuple[str, ...] = (
    "STR : +12%",
    "DEX : +12%",
    "INT : +12%",
    "LUK : +12%",
    "올스탯 : +9%",
    "최대 HP : +12%",
    "공격력 : +12%",
    "마력 : +12%",
    "보스 몬스터 공격 시 데미지 : +40%",
    "몬스터 방어율 무시 : +40%",
    "크리티컬 데미지 : +8%",
    "아이템 드롭률 : +20%",
    "메소 획득량 : +20%",
    "캐릭터 기준 10레벨 당 STR : +2",
    "스킬 재사용 대기시간 : -2초",
)
SOUL_NAMES: tuple[str, ...] = (
    "위대한 카링의 소울 적용",
    "위대한 스우의 소울 적용",
    "위대한 데미안의 소울 적용",
    "위대한 루시드의 소울 적용",
)
SOUL_OPTIONS: tuple[str, ...] = ("공격력 : +3%", "마력 : +3%", "보스 몬스터 공격 시 데미지 : +7%")
TITLES: tuple[str, ...] = (
    "초월자",
    "용사의 의지",
    "검은 마법사를 물리친",
    "정상에 선 자",
    "어둠을 걷는 자",
    "리버스 시티의 영웅",
)
# Filler for `item_description`, which real items use for set and flavour text.
DESCRIPTION_SENTENCES: tuple[str, ...] = (
    "아케인 리버의 힘이 깃든 장비이다.",
    "검은 마법사의 군단장을 물리친 모험가에게 주어지는 증표.",
    "세트 효과: 2세트 최대 HP +1000, 3세트 공격력 +30, 4세트 보스 데미지 +10%.",
    "교환 불가, 월드 내 나의 캐릭터 간 이동만 가능.",
    "고대의 신이 남긴 힘을 간직하고 있다.",
    "착용 시 모든 능력치가 소폭 상승한다.",
    "프리미엄 PC방 접속 시 추가 옵션이 적용된다.",
)
