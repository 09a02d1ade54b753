package app.contactsagent.android

import android.accounts.AbstractAccountAuthenticator
import android.accounts.Account
import android.accounts.AccountAuthenticatorResponse
import android.app.Service
import android.content.Context
import android.content.Intent
import android.os.Bundle
import android.os.IBinder

/**
 * The account that owns the managed contacts, so they show as their own source in the
 * Contacts app. The account is created by [ContactsAgentShell.configure]; users cannot add
 * or edit it, and there are no credentials: the device token lives in the agent's state.
 */
class AccountAuthenticatorService : Service() {
    private val authenticator by lazy { Authenticator(this) }

    override fun onBind(intent: Intent?): IBinder? = authenticator.iBinder

    class Authenticator(context: Context) : AbstractAccountAuthenticator(context) {
        private fun unsupported(): Bundle = Bundle().apply {
            putInt(android.accounts.AccountManager.KEY_ERROR_CODE, android.accounts.AccountManager.ERROR_CODE_UNSUPPORTED_OPERATION)
            putString(android.accounts.AccountManager.KEY_ERROR_MESSAGE, "managed by the company's device management")
        }

        override fun editProperties(r: AccountAuthenticatorResponse?, accountType: String?): Bundle = unsupported()
        override fun addAccount(r: AccountAuthenticatorResponse?, accountType: String?, authTokenType: String?, features: Array<out String>?, options: Bundle?): Bundle = unsupported()
        override fun confirmCredentials(r: AccountAuthenticatorResponse?, account: Account?, options: Bundle?): Bundle = unsupported()
        override fun getAuthToken(r: AccountAuthenticatorResponse?, account: Account?, authTokenType: String?, options: Bundle?): Bundle = unsupported()
        override fun getAuthTokenLabel(authTokenType: String?): String? = null
        override fun updateCredentials(r: AccountAuthenticatorResponse?, account: Account?, authTokenType: String?, options: Bundle?): Bundle = unsupported()
        override fun hasFeatures(r: AccountAuthenticatorResponse?, account: Account?, features: Array<out String>?): Bundle =
            Bundle().apply { putBoolean(android.accounts.AccountManager.KEY_BOOLEAN_RESULT, false) }
    }
}
