//! The console's one message catalogue: every text a page shows, in English and in Polish,
//! the language of the product description the console follows (`shared/seed`). The Polish
//! labels of the description are used word for word (*Typ synchronizacji*, *Interwał
//! synchronizacji*, *Następna spodziewana synchronizacja kontaktów*, ...). The policy's own
//! values (sync type, intervals, fields) keep their English wording in the protocol crate,
//! which the agent's CLI and the admin API share; their Polish is here (`basic_type` etc.).
//! Placeholders are `{name}`, filled by `fill`.

use contacts_agent_protocol::wire::SyncReason;
use contacts_agent_protocol::{BackupInterval, BasicType, Field, SyncInterval};

/// The console's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Pl,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Pl];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Pl => "pl",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == s)
    }

    /// The language a browser prefers among ours (`Accept-Language`, by q-value), English
    /// when it names neither.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.unwrap_or("").split(',') {
            let mut bits = part.split(';');
            let tag = bits.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = bits
                .find_map(|b| b.trim().strip_prefix("q=").and_then(|q| q.parse().ok()))
                .unwrap_or(1.0f32);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(lang) = Lang::parse(primary) {
                if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, lang));
                }
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// The name of the language in itself, for the switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Pl => "Polski",
        }
    }
}

macro_rules! catalogue {
    ($($key:ident => $en:literal, $pl:literal;)*) => {
        /// A message of the console.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum M { $($key),* }

        impl M {
            pub const ALL: &'static [M] = &[$(M::$key),*];

            pub fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((M::$key, Lang::En) => $en, (M::$key, Lang::Pl) => $pl,)*
                }
            }
        }
    };
}

catalogue! {
    Console => "contacts-agent console", "konsola contacts-agent";
    Dashboard => "Dashboard", "Pulpit";
    Devices => "Devices", "Urządzenia";
    Policies => "Policies", "Polityki";
    Users => "Users", "Użytkownicy";
    Groups => "Groups", "Grupy";
    Settings => "Settings", "Ustawienia";
    SignIn => "Sign in", "Zaloguj";
    SignOut => "Sign out", "Wyloguj";
    AdminToken => "Admin token", "Token administratora";
    WrongToken => "Wrong admin token.", "Nieprawidłowy token administratora.";
    LoginExpired => "The sign-in form expired or was not issued by this console; sign in again.",
        "Formularz logowania wygasł lub nie pochodzi z tej konsoli; zaloguj się ponownie.";
    TooManySignIns => "Too many wrong sign-ins from this address; try again in {n} s.",
        "Zbyt wiele błędnych logowań z tego adresu; spróbuj ponownie za {n} s.";
    CsrfRefused => "The form was not issued by this console (CSRF check failed).",
        "Formularz nie pochodzi z tej konsoli (kontrola CSRF nie powiodła się).";
    Refused => "Refused", "Odrzucono";
    Error => "Error", "Błąd";
    NotAllowed => "Not allowed", "Niedozwolone";
    GetPostOnly => "The console answers GET and POST only.", "Konsola obsługuje tylko GET i POST.";
    NoSuchPage => "No such page.", "Nie ma takiej strony.";
    Language => "Language", "Język";
    TimeZone => "Time zone", "Strefa czasowa";
    Save => "Save", "Zapisz";
    Saved => "Saved.", "Zapisano.";
    Search => "Search", "Szukaj";
    PreviousPage => "Previous page", "Poprzednia strona";
    NextPage => "Next page", "Następna strona";
    FirstPage => "First page", "Pierwsza strona";
    PastTheEnd => "Nothing on this page: it is past the end of the list.",
        "Na tej stronie nic nie ma: jest za końcem listy.";
    Shown => "{from}–{to}", "{from}–{to}";
    Dash => "—", "—";
    InFuture => "in {d}", "za {d}";
    InPast => "{d} ago", "{d} temu";
    JustNow => "just now", "przed chwilą";
    UnitMin => "{n} min", "{n} min";
    UnitHour => "{n} h", "{n} godz.";
    UnitDay => "{n} d", "{n} dni";
    // Dashboard and device list.
    FleetOk => "OK", "OK";
    FleetFailing => "Failing", "Błędy synchronizacji";
    FleetOverdue => "Overdue", "Zaległe";
    FleetNeverSynced => "Never synced", "Nigdy nie synchronizowane";
    FleetAwaiting => "Waiting for enrollment", "Oczekuje na rejestrację";
    FleetAll => "All devices", "Wszystkie urządzenia";
    FleetRetiring => "Retiring", "Wycofywane";
    Filter => "Show", "Pokaż";
    SortBy => "Sort by", "Sortuj według";
    SortName => "Name", "Nazwa";
    SortCreated => "Created", "Utworzono";
    SortLastSync => "Last contacts sync", "Ostatnia synchronizacja";
    SortNextSync => "Next expected contacts sync", "Następna spodziewana synchronizacja kontaktów";
    OnPolicy => "On policy", "Polityka";
    OfUser => "User", "Użytkownik";
    AnyPolicy => "Any policy", "Dowolna polityka";
    Device => "Device", "Urządzenie";
    DeviceState => "Enrollment", "Rejestracja";
    User => "User", "Użytkownik";
    Policy => "Policy", "Polityka";
    NoPolicy => "No policy (no contacts)", "Brak polityki (żadne kontakty)";
    NoUser => "No user", "Brak użytkownika";
    NoDevices => "No devices match.", "Żadne urządzenie nie pasuje.";
    AddDevice => "Add device", "Dodaj urządzenie";
    UserChoiceHint => "Type a name or an id and pick from the list ({n} users), or find the user on the {users} page.",
        "Wpisz nazwisko lub identyfikator i wybierz z listy ({n} użytkowników) albo znajdź użytkownika na stronie {users}.";
    UserChoiceHintPartial => "The list offers the first {n} users by id; find any other on the {users} page (each row has Add device).",
        "Lista podaje pierwszych {n} użytkowników według identyfikatora; każdego innego znajdziesz na stronie {users} (każdy wiersz ma Dodaj urządzenie).";
    NoSuchUser => "No user has this id. Pick one from the list (name and id), or find the user on the Users page; nothing was created.",
        "Żaden użytkownik nie ma tego identyfikatora. Wybierz go z listy (nazwisko i identyfikator) albo znajdź na stronie Użytkownicy; niczego nie utworzono.";
    NoSuchPolicy => "That policy no longer exists; pick another. Nothing was created.",
        "Ta polityka już nie istnieje; wybierz inną. Niczego nie utworzono.";
    DeviceNameInvalid => "Give the device a name: up to {max} characters, not only spaces. Nothing was created.",
        "Podaj nazwę urządzenia: do {max} znaków, nie same spacje. Niczego nie utworzono.";
    DeviceName => "Device name", "Nazwa urządzenia";
    Create => "Create", "Utwórz";
    // Enrollment states.
    StateAwaiting => "Waiting for enrollment", "Oczekuje na rejestrację";
    StateEnrolled => "Enrolled", "Zarejestrowane";
    StateRetiring => "Retiring", "Wycofywane";
    StateRevoked => "Revoked", "Unieważnione";
    StateRetired => "Retired", "Wycofane";
    // Device details: the seed's Sync status block.
    SyncStatus => "Sync status", "Status synchronizacji";
    SyncType => "Sync type", "Typ synchronizacji";
    AdditionalGroups => "Additional groups", "Dodatkowe grupy";
    SyncIntervalLabel => "Sync interval", "Interwał synchronizacji";
    NextExpectedSync => "Next expected contacts sync", "Następna spodziewana synchronizacja kontaktów";
    LastSync => "Last contacts sync", "Ostatnia synchronizacja";
    LastResult => "Last result", "Ostatni wynik";
    LastCheckIn => "Last check-in", "Ostatni kontakt z serwerem";
    ContactsOnDevice => "Contacts on the device", "Kontakty na urządzeniu";
    SynchronizeContacts => "Synchronize contacts", "Synchronizuj kontakty";
    SyncQueued => "Synchronize contacts: queued {at}; the phone picks it up on its next check.",
        "Synchronizuj kontakty: zlecono {at}; telefon odbierze polecenie przy następnym sprawdzeniu.";
    SyncPickedUp => "Synchronize contacts: picked up at {at}.",
        "Synchronizuj kontakty: odebrano {at}.";
    SyncDone => "Synchronize contacts: done {at}.", "Synchronizuj kontakty: wykonano {at}.";
    SyncCancelled => "Synchronize contacts: cancelled {at} (the device left management first).",
        "Synchronizuj kontakty: anulowano {at} (urządzenie wcześniej opuściło zarządzanie).";
    NotEnrolledNoSync => "The device is not enrolled: there is nothing to synchronize yet.",
        "Urządzenie nie jest zarejestrowane: nie ma jeszcze czego synchronizować.";
    Verified => "verified: the phone holds exactly what it was sent",
        "zweryfikowane: telefon ma dokładnie to, co mu wysłano";
    NotVerified => "not verified: the phone's contacts differ from what it was sent",
        "niezweryfikowane: kontakty w telefonie różnią się od wysłanych";
    History => "Last syncs", "Ostatnie synchronizacje";
    HistoryNote => "As the phone reported them: when, why, the result, how long it took, and the contacts it held after.",
        "Tak, jak zgłosił je telefon: kiedy, dlaczego, z jakim wynikiem, jak długo trwała i ile kontaktów miał potem.";
    Why => "Reason", "Powód";
    Took => "Duration", "Czas trwania";
    ReasonScheduled => "scheduled", "według harmonogramu";
    ReasonForced => "forced by console", "wymuszona z konsoli";
    ReasonPolicyApplied => "new policy applied", "zastosowanie nowej polityki";
    ReasonRetry => "retry after a failure", "ponowienie po błędzie";
    ReasonManual => "started on the phone", "uruchomiona na telefonie";
    ReasonRepair => "repair: the phone's contacts had changed", "naprawa: kontakty w telefonie się zmieniły";
    ReasonUnknown => "unknown (a newer app)", "nieznany (nowsza aplikacja)";
    When => "When", "Kiedy";
    Result => "Result", "Wynik";
    Contacts => "Contacts", "Kontakty";
    PolicyVersion => "Policy version", "Wersja polityki";
    NoRuns => "No sync reported yet.", "Nie zgłoszono jeszcze żadnej synchronizacji.";
    Enrollment => "Enrollment", "Rejestracja";
    EnrollmentCode => "One-time enrollment code", "Jednorazowy kod rejestracji";
    EnrollmentLink => "Enrollment link", "Link rejestracji";
    CodeExpires => "Works until {at}.", "Ważny do {at}.";
    EnrollHow => "Scan the code with the phone, or run: {cmd}", "Zeskanuj kod telefonem albo uruchom: {cmd}";
    EnrollPageTitle => "Enroll a phone", "Rejestracja telefonu";
    EnrollPageWhat => "This link enrolls one phone in the company address book of {server}: the phone then holds the company's contacts, kept apart from its owner's own. An administrator issued it for one device in the console; it works once, until it expires.",
        "Ten link rejestruje jeden telefon w firmowej książce adresowej serwera {server}: telefon dostaje wtedy kontakty firmowe, oddzielone od prywatnych kontaktów właściciela. Administrator wygenerował go w konsoli dla jednego urządzenia; działa raz, do czasu wygaśnięcia.";
    EnrollPageCodeInLink => "in this page's address, after #code=", "w adresie tej strony, po #code=";
    EnrollPageCodePlaceholder => "<code>", "<kod>";
    EnrollPageNoCode => "This address carries no code: open the link exactly as the console shows it, or ask the administrator for a new one.",
        "Ten adres nie zawiera kodu: otwórz link dokładnie tak, jak pokazuje go konsola, albo poproś administratora o nowy.";
    EnrollPageWhyFragment => "The code is the part of the link after #, which a browser never sends to a server: opening this page put it in no server's or proxy's log, and it is read here, in your browser only. Whoever holds the code can enroll one phone until it is used or expires, so keep it to the phone it was made for.",
        "Kod to część linku po #, której przeglądarka nigdy nie wysyła do serwera: otwarcie tej strony nie zapisało go w dzienniku żadnego serwera ani proxy, a odczytuje go tylko Twoja przeglądarka. Kto ma kod, może zarejestrować jeden telefon, dopóki kod nie zostanie użyty lub nie wygaśnie, więc przekaż go tylko na telefon, dla którego powstał.";
    EnrollPageCliTitle => "With the command-line agent", "Agentem wiersza poleceń";
    EnrollPageCli => "A tester enrolls the command-line agent with the whole link:", "Tester rejestruje agenta wiersza poleceń całym linkiem:";
    EnrollPageCliOr => "or with the server's address and the code:", "albo adresem serwera i kodem:";
    EnrollPageAndroidTitle => "On an Android phone", "Na telefonie z Androidem";
    EnrollPageAndroid => "The Android SDK enrolls with the server's address and the code that its host app passes to ContactsAgent.enroll; the example app takes them as the intent extras server_url and enrollment_code. No app opens this link by itself yet: give the company app this server's address and the code.",
        "SDK dla Androida rejestruje się adresem serwera i kodem, które aplikacja go osadzająca przekazuje do ContactsAgent.enroll; przykładowa aplikacja przyjmuje je jako dodatki intencji server_url i enrollment_code. Żadna aplikacja nie otwiera jeszcze tego linku sama: podaj aplikacji firmowej adres tego serwera i kod.";
    EnrollPageServerUnknown => "<server URL>", "<adres serwera>";
    NewCode => "Issue a new enrollment code", "Wygeneruj nowy kod rejestracji";
    AssignPolicy => "Assign policy", "Przypisz politykę";
    PolicyAssigned => "Policy assigned; the phone applies it on its next check.",
        "Polityka przypisana; telefon zastosuje ją przy następnym sprawdzeniu.";
    RetireConfirm => "Yes, retire this device: remove the business contacts from the phone and unenroll it",
        "Tak, wycofaj urządzenie: usuń kontakty biznesowe z telefonu i wyrejestruj je";
    RetireWhat => "Retiring removes the business contacts from the phone and unenrolls it. The phone's own contacts stay.",
        "Wycofanie usuwa kontakty biznesowe z telefonu i wyrejestrowuje go. Własne kontakty telefonu zostają.";
    Retiring => "Retiring: waiting for the phone to remove the business contacts and unenroll.",
        "Wycofywanie: czekamy, aż telefon usunie kontakty biznesowe i się wyrejestruje.";
    RetiredOn => "Retired {at}.", "Wycofano {at}.";
    RetireRequestedAt => "Retire requested {at}.", "Zlecono wycofanie {at}.";
    RetireConfirmHint => "Retire device…", "Wycofaj urządzenie…";
    NoCodeOutstanding => "No enrollment code is outstanding.", "Brak ważnego kodu rejestracji.";
    RevokedOn => "Revoked {at}.", "Unieważniono {at}.";
    // Held contacts.
    HeldTitle => "Contacts saved on the device by the sync", "Kontakty zapisane na urządzeniu przez synchronizację";
    HeldNote => "What the phone last reported holding, each contact as it was sent to it.",
        "To, co telefon ostatnio zgłosił, że ma — każdy kontakt w postaci, w jakiej został wysłany.";
    HeldPending => "Pending changes: {n} — the phone receives them on its next sync.",
        "Oczekujące zmiany: {n} — telefon otrzyma je przy następnej synchronizacji.";
    HeldUpToDate => "Up to date: the phone holds what the server would send now.",
        "Aktualne: telefon ma to, co serwer wysłałby teraz.";
    HeldUnknown => "The phone has not reported what it holds yet.", "Telefon nie zgłosił jeszcze, co ma.";
    HeldBodyMissing => "(sent before this server kept contacts as sent)", "(wysłany, zanim serwer zaczął przechowywać wysłane kontakty)";
    PendingChange => "changes on the next sync", "zmieni się przy następnej synchronizacji";
    ContactsTotal => "{n} contacts", "Kontaktów: {n}";
    SearchContacts => "name, phone or e-mail", "nazwisko, telefon lub e-mail";
    Name => "Name", "Nazwa";
    Phones => "Phones", "Telefony";
    Emails => "E-mails", "E-maile";
    Office => "Office", "Biuro";
    Manager => "Manager", "Przełożony";
    Preferred => "preferred", "preferowany";
    // Backups.
    BackupSettings => "Contact backup", "Kopia zapasowa kontaktów";
    LastBackup => "Last backup", "Ostatnia kopia zapasowa";
    LastBackupResult => "Last backup result", "Wynik ostatniej kopii zapasowej";
    NextBackup => "Next expected backup", "Następna spodziewana kopia zapasowa";
    BackupCreated => "Created", "Utworzono";
    Size => "Size", "Rozmiar";
    Download => "Download", "Pobierz";
    NoBackups => "No backups yet.", "Brak kopii zapasowych.";
    // Policies.
    NewPolicy => "New policy", "Nowa polityka";
    PolicyName => "Policy name", "Nazwa polityki";
    Advanced => "Advanced", "Zaawansowane";
    BusinessContactsSync => "Business contacts sync", "Synchronizacja kontaktów biznesowych";
    BasicSyncType => "Basic sync type", "Podstawowy typ synchronizacji";
    BackupInterval => "Backup interval", "Interwał tworzenia kopii zapasowej";
    SyncWindow => "Sync window", "Okno synchronizacji";
    WholeDay => "Whole day", "Cała doba";
    DeviceTime => "{w} (device time)", "{w} (czas urządzenia)";
    WindowTo => "to", "do";
    WindowHelp => "device time (empty: any time of day; each phone keeps its own time inside the window)",
        "czas urządzenia (puste: dowolna pora; każdy telefon ma w oknie własną porę)";
    Rollout => "Spread a change over", "Rozłóż zmianę na";
    RolloutHelp => "minutes (0: phones apply it at once; for a large fleet, e.g. 60)",
        "minut (0: telefony stosują ją od razu; dla dużej floty np. 60)";
    FieldsSent => "Fields sent to phones", "Pola wysyłane do telefonów";
    LimitFields => "Send only the fields ticked below (unticked: every field, including ones added later)",
        "Wysyłaj tylko pola zaznaczone poniżej (niezaznaczone: wszystkie pola, także dodane później)";
    AllFields => "All", "Wszystkie";
    NameOnly => "Name only", "Tylko nazwa";
    SavePolicy => "Save policy", "Zapisz politykę";
    PolicySaved => "Saved. Devices on this policy apply it on their next run.",
        "Zapisano. Urządzenia z tą polityką zastosują ją przy następnym uruchomieniu.";
    PolicyDevices => "Devices on this policy", "Urządzenia z tą polityką";
    NoGroups => "No groups yet.", "Brak grup.";
    // Directory.
    UsersCount => "{n} users", "Użytkowników: {n}";
    GroupsCount => "{n} groups", "Grup: {n}";
    Members => "Members", "Członkowie";
    GroupMembers => "Members of the group", "Członkowie grupy";
    GroupPolicies => "Policies that name this group", "Polityki, które wskazują tę grupę";
    NoPolicies => "No policy names this group.", "Żadna polityka nie wskazuje tej grupy.";
    SearchUsers => "name, phone or e-mail", "nazwisko, telefon lub e-mail";
    SearchGroups => "group name", "nazwa grupy";
    Group => "Group", "Grupa";
    UserDevices => "Devices", "Urządzenia";
}

/// `m` with its `{name}` placeholders replaced by `args` (already escaped where they go into
/// HTML).
pub fn fill(lang: Lang, m: M, args: &[(&str, &str)]) -> String {
    let mut s = m.text(lang).to_owned();
    for (k, v) in args {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// The seed's sync types: English from the protocol crate, Polish as the description says.
pub fn basic_type(lang: Lang, t: BasicType) -> &'static str {
    match lang {
        Lang::En => t.label(),
        Lang::Pl => match t {
            BasicType::None => "Żadne kontakty",
            BasicType::UserGroups => "Kontakty z grup użytkownika",
            BasicType::AllGroups => "Kontakty z wszystkich grup",
        },
    }
}

/// Sync and backup intervals share one vocabulary ("Once a day" for both).
pub fn sync_interval(lang: Lang, i: SyncInterval) -> &'static str {
    match lang {
        Lang::En => i.label(),
        Lang::Pl => match i {
            SyncInterval::Disabled => "Wyłączona (raz na politykę)",
            SyncInterval::Daily => "Raz dziennie",
            SyncInterval::Weekly => "Raz w tygodniu",
            SyncInterval::Monthly => "Raz w miesiącu",
        },
    }
}

pub fn backup_interval(lang: Lang, b: BackupInterval) -> &'static str {
    let same = |i| sync_interval(lang, i);
    match b {
        BackupInterval::Off => match lang {
            Lang::En => "Off",
            Lang::Pl => "Wyłączona",
        },
        BackupInterval::Daily => same(SyncInterval::Daily),
        BackupInterval::Weekly => same(SyncInterval::Weekly),
        BackupInterval::Monthly => same(SyncInterval::Monthly),
    }
}

/// The words of a sync's reason, which the agent sends as a closed set.
pub fn sync_reason(r: SyncReason) -> M {
    match r {
        SyncReason::Scheduled => M::ReasonScheduled,
        SyncReason::Forced => M::ReasonForced,
        SyncReason::PolicyApplied => M::ReasonPolicyApplied,
        SyncReason::Retry => M::ReasonRetry,
        SyncReason::Manual => M::ReasonManual,
        SyncReason::Repair => M::ReasonRepair,
        SyncReason::Unrecognized => M::ReasonUnknown,
    }
}

pub fn field(lang: Lang, f: Field) -> &'static str {
    match lang {
        Lang::En => f.label(),
        Lang::Pl => match f {
            Field::Name => "Imię i nazwisko (zawsze wysyłane)",
            Field::Organization => "Firma, dział, stanowisko, biuro, przełożony, asystent",
            Field::WorkPhones => "Numery służbowe (służbowy, służbowy komórkowy, główny, faks)",
            Field::MobilePhones => "Prywatne numery komórkowe",
            Field::HomePhones => "Numery domowe (prywatne)",
            Field::OtherPhones => "Inne numery",
            Field::WorkEmails => "Służbowe adresy e-mail",
            Field::HomeEmails => "Domowe adresy e-mail (prywatne)",
            Field::OtherEmails => "Inne adresy e-mail",
            Field::Addresses => "Adresy pocztowe",
            Field::WebAndChat => "Strony WWW, adresy SIP i komunikatory",
            Field::Note => "Notatka",
            Field::Photo => "Zdjęcie",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(s: &str) -> Vec<&str> {
        let mut v: Vec<&str> = s
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(k, _)| k))
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn every_message_has_the_same_placeholders_in_both_languages() {
        for m in M::ALL {
            assert_eq!(
                placeholders(m.text(Lang::En)),
                placeholders(m.text(Lang::Pl)),
                "{m:?}"
            );
            assert!(!m.text(Lang::Pl).is_empty(), "{m:?}");
        }
    }

    #[test]
    fn the_seeds_polish_labels_are_used_word_for_word() {
        let seed = [
            (M::SyncType, "Typ synchronizacji"),
            (M::SyncIntervalLabel, "Interwał synchronizacji"),
            (
                M::NextExpectedSync,
                "Następna spodziewana synchronizacja kontaktów",
            ),
            (M::LastSync, "Ostatnia synchronizacja"),
            (M::SynchronizeContacts, "Synchronizuj kontakty"),
            (M::SyncStatus, "Status synchronizacji"),
            (M::BasicSyncType, "Podstawowy typ synchronizacji"),
            (M::Devices, "Urządzenia"),
            (M::Advanced, "Zaawansowane"),
        ];
        for (m, pl) in seed {
            assert_eq!(m.text(Lang::Pl), pl);
        }
        assert_eq!(basic_type(Lang::Pl, BasicType::None), "Żadne kontakty");
        assert_eq!(
            basic_type(Lang::Pl, BasicType::AllGroups),
            "Kontakty z wszystkich grup"
        );
    }

    #[test]
    fn backup_and_sync_intervals_share_one_vocabulary() {
        for lang in Lang::ALL {
            assert_eq!(
                backup_interval(lang, BackupInterval::Daily),
                sync_interval(lang, SyncInterval::Daily)
            );
            assert_eq!(
                backup_interval(lang, BackupInterval::Monthly),
                sync_interval(lang, SyncInterval::Monthly)
            );
        }
    }

    #[test]
    fn accept_language_picks_the_preferred_of_ours() {
        assert_eq!(
            Lang::from_accept_language(Some("pl-PL,pl;q=0.9,en;q=0.8")),
            Lang::Pl
        );
        assert_eq!(
            Lang::from_accept_language(Some("de-DE,en;q=0.5,pl;q=0.7")),
            Lang::Pl
        );
        assert_eq!(Lang::from_accept_language(Some("en-GB,pl;q=0.1")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("fr")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("pl;q=0")), Lang::En);
        assert_eq!(Lang::from_accept_language(None), Lang::En);
    }
}
