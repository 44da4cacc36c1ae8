import { browserLanguages, chooseLanguage, LANGUAGES, languageChoice, resolveLanguage, t, type LanguageChoice } from "../i18n";

/**
 * Settings' language choice, kept on this device: "same as the browser" (navigator.languages,
 * named with the language it gives now) or one of the languages. Every view switches at once.
 */
export function LanguageSwitch() {
  const choice = languageChoice.value;
  const browser = resolveLanguage(browserLanguages.value);
  // Each language is named in itself, so someone who cannot read the current one finds theirs.
  const nameOf = (lang: (typeof LANGUAGES)[number]) => t(`settings.languageNames.${lang}`, { lng: lang });
  return (
    <label class="language-switch">
      {t("settings.language")}
      <select
        data-testid="language-select"
        value={choice}
        onChange={(e) => chooseLanguage(e.currentTarget.value as LanguageChoice)}
      >
        <option value="auto">{t("settings.languageAuto", { language: nameOf(browser) })}</option>
        {LANGUAGES.map((lang) => (
          <option key={lang} value={lang} lang={lang}>
            {nameOf(lang)}
          </option>
        ))}
      </select>
    </label>
  );
}
