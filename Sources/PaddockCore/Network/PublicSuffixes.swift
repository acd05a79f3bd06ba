/// Public suffixes under which anybody can register a name, so `*.SUFFIX` would open a whole registry. Every
/// single-label suffix (`com`, `org`, `io`, any TLD) is refused by rule; this list covers the multi-label
/// registries people meet most. It is deliberately small and embedded: no file, no download, and a miss only
/// means a too-broad rule is accepted, as it would be for any other wide wildcard.
enum PublicSuffixes {
    static func isPublicSuffix(_ name: String) -> Bool {
        !name.contains(".") || multiLabel.contains(name)
    }

    static let multiLabel: Set<String> = [
        // United Kingdom
        "co.uk", "org.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk", "sch.uk", "ac.uk", "gov.uk", "nhs.uk", "police.uk",
        // Australia, New Zealand
        "com.au", "net.au", "org.au", "edu.au", "gov.au", "asn.au", "id.au",
        "co.nz", "net.nz", "org.nz", "ac.nz", "govt.nz", "geek.nz", "school.nz",
        // Japan, Korea, China, Hong Kong, Taiwan
        "co.jp", "ne.jp", "or.jp", "ac.jp", "ad.jp", "ed.jp", "go.jp", "gr.jp", "lg.jp",
        "co.kr", "or.kr", "ne.kr", "re.kr", "ac.kr", "go.kr",
        "com.cn", "net.cn", "org.cn", "gov.cn", "edu.cn", "ac.cn",
        "com.hk", "net.hk", "org.hk", "edu.hk", "gov.hk",
        "com.tw", "net.tw", "org.tw", "edu.tw", "gov.tw",
        // South and South-East Asia
        "co.in", "net.in", "org.in", "firm.in", "gen.in", "ind.in", "ac.in", "edu.in", "gov.in", "res.in",
        "com.sg", "net.sg", "org.sg", "edu.sg", "gov.sg",
        "com.my", "net.my", "org.my", "edu.my", "gov.my",
        "co.id", "or.id", "ac.id", "go.id", "web.id",
        "co.th", "in.th", "ac.th", "go.th", "or.th",
        "com.vn", "net.vn", "org.vn", "edu.vn", "gov.vn",
        "com.ph", "net.ph", "org.ph",
        "com.pk", "net.pk", "org.pk",
        // Americas
        "com.br", "net.br", "org.br", "gov.br", "edu.br",
        "com.mx", "net.mx", "org.mx", "gob.mx", "edu.mx",
        "com.ar", "net.ar", "org.ar", "gob.ar",
        "com.co", "net.co", "org.co",
        "com.pe", "com.ve", "com.uy", "com.ec",
        // Europe, Middle East, Africa
        "co.at", "or.at", "ac.at", "gv.at",
        "com.pl", "net.pl", "org.pl",
        "com.es", "nom.es", "org.es",
        "com.pt", "com.gr", "com.cy", "com.mt",
        "com.tr", "net.tr", "org.tr", "gov.tr",
        "com.ua", "net.ua", "org.ua", "kiev.ua",
        "com.ru", "net.ru", "org.ru",
        "co.il", "org.il", "net.il", "ac.il", "gov.il",
        "com.sa", "com.eg", "com.ng", "com.kw", "com.qa",
        "co.za", "org.za", "net.za", "gov.za", "ac.za", "web.za",
        "co.ke", "or.ke", "co.tz", "co.ug",
    ]
}
