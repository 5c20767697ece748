//! Place names and the word pools used for synthetic titles and artists.

/// A province (provincial-level division) and the number of its cities that host
/// connected venues at the end of 2024. Zero: licensed venues only.
pub(crate) struct Province {
    pub name: &'static str,
    pub capital: &'static str,
    pub connected_cities: usize,
}

/// The 31 provincial-level divisions of mainland China; 28 of them have connected
/// venues, 167 cities in all.
pub(crate) const PROVINCES: [Province; 31] = [
    Province {
        name: "广东",
        capital: "广州",
        connected_cities: 14,
    },
    Province {
        name: "江苏",
        capital: "南京",
        connected_cities: 12,
    },
    Province {
        name: "浙江",
        capital: "杭州",
        connected_cities: 11,
    },
    Province {
        name: "山东",
        capital: "济南",
        connected_cities: 10,
    },
    Province {
        name: "四川",
        capital: "成都",
        connected_cities: 9,
    },
    Province {
        name: "河南",
        capital: "郑州",
        connected_cities: 9,
    },
    Province {
        name: "湖北",
        capital: "武汉",
        connected_cities: 8,
    },
    Province {
        name: "湖南",
        capital: "长沙",
        connected_cities: 7,
    },
    Province {
        name: "福建",
        capital: "福州",
        connected_cities: 7,
    },
    Province {
        name: "河北",
        capital: "石家庄",
        connected_cities: 7,
    },
    Province {
        name: "安徽",
        capital: "合肥",
        connected_cities: 6,
    },
    Province {
        name: "辽宁",
        capital: "沈阳",
        connected_cities: 6,
    },
    Province {
        name: "江西",
        capital: "南昌",
        connected_cities: 6,
    },
    Province {
        name: "广西",
        capital: "南宁",
        connected_cities: 6,
    },
    Province {
        name: "云南",
        capital: "昆明",
        connected_cities: 5,
    },
    Province {
        name: "陕西",
        capital: "西安",
        connected_cities: 5,
    },
    Province {
        name: "山西",
        capital: "太原",
        connected_cities: 5,
    },
    Province {
        name: "贵州",
        capital: "贵阳",
        connected_cities: 5,
    },
    Province {
        name: "黑龙江",
        capital: "哈尔滨",
        connected_cities: 5,
    },
    Province {
        name: "吉林",
        capital: "长春",
        connected_cities: 4,
    },
    Province {
        name: "内蒙古",
        capital: "呼和浩特",
        connected_cities: 4,
    },
    Province {
        name: "新疆",
        capital: "乌鲁木齐",
        connected_cities: 4,
    },
    Province {
        name: "重庆",
        capital: "重庆",
        connected_cities: 3,
    },
    Province {
        name: "甘肃",
        capital: "兰州",
        connected_cities: 3,
    },
    Province {
        name: "海南",
        capital: "海口",
        connected_cities: 3,
    },
    Province {
        name: "北京",
        capital: "北京",
        connected_cities: 1,
    },
    Province {
        name: "上海",
        capital: "上海",
        connected_cities: 1,
    },
    Province {
        name: "天津",
        capital: "天津",
        connected_cities: 1,
    },
    Province {
        name: "西藏",
        capital: "拉萨",
        connected_cities: 0,
    },
    Province {
        name: "青海",
        capital: "西宁",
        connected_cities: 0,
    },
    Province {
        name: "宁夏",
        capital: "银川",
        connected_cities: 0,
    },
];

/// The name of city number `index` of a province: its capital first, then
/// synthetic prefecture names.
pub(crate) fn city_name(province: &Province, index: usize) -> String {
    if index == 0 {
        province.capital.to_string()
    } else {
        format!("{}第{}市", province.name, index + 1)
    }
}

/// Characters that make up synthetic song titles.
pub(crate) const TITLE_WORDS: [&str; 48] = [
    "爱", "你", "我", "的", "心", "海", "风", "雨", "夜", "梦", "月", "光", "花", "星", "天", "空",
    "路", "远", "歌", "情", "恋", "人", "城", "春", "秋", "红", "蓝", "回", "忆", "年", "少", "时",
    "泪", "笑", "走", "来", "等", "唱", "朋", "友", "家", "故", "乡", "青", "山", "水", "云", "醉",
];

/// Family names for synthetic artists.
pub(crate) const FAMILY_NAMES: [&str; 24] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "朱", "马", "胡", "郭",
    "林", "何", "高", "梁", "郑", "罗", "宋", "谢",
];

/// Given-name characters for synthetic artists.
pub(crate) const GIVEN_NAMES: [&str; 24] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华",
];

/// VOD (song-request system) vendors; venues of unknown vendor report none.
pub(crate) const VOD_VENDORS: [&str; 4] = ["雷石", "视易", "音圆", "点石"];

/// Languages of the catalogue, with their weights in per mille.
pub(crate) const LANGUAGES: [(&str, u32); 6] = [
    ("国语", 700),
    ("粤语", 150),
    ("英语", 50),
    ("闽南语", 50),
    ("韩语", 25),
    ("日语", 25),
];
